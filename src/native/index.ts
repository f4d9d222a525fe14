// The binding layer: the native addon's loader and its typed surface, per area. Everything in src/
// that calls C++ goes through here; nothing here imports from the rest of src/.
export { addonPath, loadNative, packageRoot, type NativeAddon } from './addon.js';
export type * from './engine.js';
export type * from './formats.js';
export type * from './gguf.js';
export type * from './quantize.js';
export type * from './system.js';
