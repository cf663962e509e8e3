/**
 * Schemas built once per workflow thread instead of once per refund. The worker's sandbox evaluates
 * the workflow modules again as each workflow is created, so a module that builds its zod schemas
 * at the top level builds every one of them for every refund: that was the largest share of a
 * workflow's creation. A module instead takes a builder, `const built = builtOnce('<its path>')`,
 * and writes each schema as `built('Name', () => z...)`: the module's first evaluation in a thread
 * builds the schemas, and every later one gets the same schemas back.
 *
 * The worker loads this module once per workflow thread and shares it between workflows
 * (workflows/shared-modules.ts). The SDK freezes what it shares, and a zod schema writes to itself
 * on first use; the schemas are kept in a Map's entries, which freezing leaves alone, so they stay
 * writable. A schema holds no refund's state (a refinement sees only the value it checks), so
 * sharing one changes no result, and a refund replays the same whichever workflow built it.
 * Outside the sandbox (the API, the worker's activities) this is a plain memo.
 *
 * A later evaluation must ask for the same names in the same order as the first: a module that
 * reuses another's key, or builds a schema only sometimes, throws instead of being handed a
 * schema built for something else. A name given twice in one module throws too.
 */

type Built = <T>(name: string, build: () => T) => T;

interface ModuleSchemas {
  names: string[];
  values: unknown[];
}

/** Per module key, its schemas in the order the module builds them. */
const modules = new Map<string, ModuleSchemas>();

/** The builder for the module `key` names (its path, e.g. 'workflows/schemas'). */
export function builtOnce(key: string): Built {
  const known = modules.get(key);
  if (known !== undefined) {
    let next = 0;
    return <T>(name: string, _build: () => T): T => {
      const at = next++;
      if (known.names[at] !== name) {
        throw new Error(
          `${key} builds ${name} as its schema number ${at + 1}, but ${known.names[at] ?? 'nothing'} the first time: two modules share the key, or one builds a schema only sometimes`,
        );
      }
      return known.values[at] as T;
    };
  }
  const schemas: ModuleSchemas = { names: [], values: [] };
  modules.set(key, schemas);
  return <T>(name: string, build: () => T): T => {
    if (schemas.names.includes(name)) throw new Error(`${key} builds two schemas named ${name}`);
    const value = build();
    schemas.names.push(name);
    schemas.values.push(value);
    return value;
  };
}
