/**
 * The floor plan's boundaries, checked by `npm test` (npm run lint:boundaries).
 * docs/architecture.md explains each part and why these arrows are forbidden.
 */
const product = '^(workflows|activities|store|api|client|config|worker)/';

module.exports = {
  forbidden: [
    {
      name: 'workflows-stay-deterministic',
      comment: 'workflows/ is bundled into the deterministic sandbox: it imports only itself, and only types from activities/.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^(store|api|client|config|worker|dev|bench|chaos|test)/' },
    },
    {
      name: 'workflows-use-only-activity-types',
      comment: 'The workflow calls activities through proxies; it may name their types, never run their code.',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'only-store-speaks-sql',
      comment: 'store/ is the only code that talks to PostgreSQL.',
      severity: 'error',
      from: { pathNot: '^store/' },
      to: { path: ['^node_modules/pg/', '^node_modules/@types/pg/', '^node_modules/pg-pool/'] },
    },
    {
      name: 'client-is-only-http',
      comment: 'client/ is what callers import: the HTTP client, its errors, the views and the CLI; never the server side.',
      severity: 'error',
      from: { path: '^client/' },
      to: { path: '^(store|worker|api|activities)/' },
    },
    {
      name: 'store-serves-everyone',
      comment: 'store/ is the bottom floor under the server: it never reaches up into activities/, api/ or worker/.',
      severity: 'error',
      from: { path: '^store/' },
      to: { path: '^(activities|api|worker)/' },
    },
    {
      name: 'activities-stay-behind-the-worker',
      comment: 'Activities are called by the workflow through the worker; they never reach into the API or a client.',
      severity: 'error',
      from: { path: '^activities/' },
      to: { path: '^(api|client|worker)/' },
    },
    {
      name: 'product-never-imports-tooling',
      comment: 'The local stack, the benchmark, the chaos run and the tests are not part of the product.',
      severity: 'error',
      from: { path: product },
      to: { path: '^(bench|chaos|dev|test)/' },
    },
    {
      name: 'product-runs-without-dev-dependencies',
      comment:
        'dist/ runs with production dependencies only (npm ci --omit=dev): the product never imports a devDependency at run time. The two bin shims (*.mjs) load tsx to run the sources in a checkout; dist/ has built CLIs instead.',
      severity: 'error',
      from: { path: product, pathNot: '\\.mjs$' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'Files that import each other in a loop have no clear owner.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(\\.data|\\.tools|\\.build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
