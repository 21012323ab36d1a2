/**
 * The logger interface the core and plugins write to: pino's call shape, so a pino instance can be
 * passed as it is. Every kernel-visible choice is logged at debug.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(bindings: object): Logger;
}

/** A logger that drops everything: the default for library use, so the core has no log I/O unless asked. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
