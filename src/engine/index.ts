// The engine's public TypeScript API: load a model, open sessions, prefill, generate, snapshot.
export { loadModel, Model } from './Model.js';
export type { Device, KvCacheType, LoadModelOptions, ModelInfo, OffloadOptions, OffloadStats, SessionOptions } from './Model.js';
export { Session } from './Session.js';
export type { EvaluateOptions, GenerateOptions, PrefillOptions, SessionStats } from './Session.js';
export type { SamplingOptions } from './sampling.js';
export { AbortError, ContextLimitError, SnapshotMismatchError } from './errors.js';
