// The statistics llama-bench reports: the mean and the sample standard deviation (n - 1), 0 for
// fewer than two samples.

export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function sampleStddev(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  let sq = 0;
  for (const v of values) sq += (v - m) * (v - m);
  return Math.sqrt(sq / (values.length - 1));
}

/** Tokens per second of each repetition: n_tokens / seconds, as llama-bench's samples_ts. */
export function tokensPerSecond(nTokens: number, samplesNs: readonly number[]): number[] {
  return samplesNs.map((ns) => (1e9 * nTokens) / ns);
}
