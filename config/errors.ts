/** A configuration value is wrong: the process stops with a message naming the variable at fault. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
