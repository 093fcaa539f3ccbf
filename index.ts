/** Millrace: an embeddable message broker runtime. The public surface of the package. */
export { MillraceError, isMillraceError, ERROR_CODES, type ErrorCode, type MillraceErrorOptions } from './core/errors.js';
