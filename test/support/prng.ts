// A small deterministic generator for the randomized unit tests, so a failing case can be
// replayed from its seed: prng(seed)(bound) is an integer in [0, bound).
export function prng(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return state % bound;
  };
}
