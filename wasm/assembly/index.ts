// Placeholder; the framing and index hot path lands here.
export function version(): i32 { return 1; }
