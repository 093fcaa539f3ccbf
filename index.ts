/** Millrace: an embeddable message broker runtime. The public surface of the package. */
export * from './core/index.js';
export * from './actors/index.js';
