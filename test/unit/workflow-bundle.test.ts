/**
 * Workers load a workflow bundle built beforehand when REFUNDS_WORKFLOW_BUNDLE names one (every
 * test worker runs such a bundle, built by test/global-setup.ts with the same function); the
 * variable is checked when the configuration is read.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/worker';
import { testStack } from '../support/stack';

it('takes a REFUNDS_WORKFLOW_BUNDLE that exists and refuses one that does not, naming the variable', () => {
  const built = testStack().workflowBundlePath;
  expect(loadConfig({ REFUNDS_WORKFLOW_BUNDLE: built }).workflowBundle).toBe(built);
  expect(loadConfig({}).workflowBundle).toBeUndefined();
  const missing = path.join(path.dirname(built), 'missing-bundle.js');
  expect(() => loadConfig({ REFUNDS_WORKFLOW_BUNDLE: missing })).toThrow(ConfigError);
  expect(() => loadConfig({ REFUNDS_WORKFLOW_BUNDLE: missing })).toThrow(/REFUNDS_WORKFLOW_BUNDLE: no such file/);
});
