/** Constants shared by bench/ring.ts and its worker (the worker module runs on import, so they live here). */

/** Record type that ends a bench worker's loop. */
export const STOP_TYPE = 0x7fff0000;
