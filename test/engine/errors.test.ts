// Load and use errors arrive as JS exceptions with stable codes and messages that name the
// problem (the tensor, the key, the shapes), never as a crash.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { GgufWriteSpec } from '../../src/native/index.js';
import { loadModel, type LoadModelOptions } from '../../src/engine/index.js';
import { buildExtraArchSpec, EXTRA_ARCH_DIMS, writeGgufSpec } from '../fixtures/extraArchs.js';
import { presetModel, tempDir } from './helpers/models.js';

const tmp = tempDir();
const E = EXTRA_ARCH_DIMS.qwen3.nEmbd;
const E_NEXT = EXTRA_ARCH_DIMS.qwen3next.nEmbd;
afterAll(() => tmp.cleanup());

let counter = 0;
async function loadSpec(spec: GgufWriteSpec): Promise<unknown> {
  const file = await writeGgufSpec(path.join(tmp.dir, `m${counter++}.gguf`), spec);
  return loadModel(file, { threads: 1 }).then(
    (m) => {
      m.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
}

describe('model loading errors', () => {
  it('a missing tensor names the tensor and its expected shape', async () => {
    const spec = buildExtraArchSpec('qwen3');
    spec.tensors = spec.tensors.filter((t) => t.name !== 'blk.1.attn_k.weight');
    const err = await loadSpec(spec);
    expect(err).toMatchObject({ code: 'ERR_CORRUPT_FILE' });
    expect((err as Error).message).toContain(`missing tensor 'blk.1.attn_k.weight' (expected shape [${E}, 96])`);
  });

  it('a wrong shape names the tensor, its shape and the expected one', async () => {
    const spec = buildExtraArchSpec('qwen3');
    const t = spec.tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
    t.shape = [E, 200];
    const err = await loadSpec(spec);
    expect(err).toMatchObject({ code: 'ERR_CORRUPT_FILE' });
    expect((err as Error).message).toContain(`tensor 'blk.0.ffn_up.weight' has shape [${E}, 200], expected [${E}, 256]`);
  });

  it('a gated (qwen35-style) attn_q in a qwen3 file is a wrong shape', async () => {
    const spec = buildExtraArchSpec('qwen3');
    spec.tensors.find((x) => x.name === 'blk.0.attn_q.weight')!.shape = [E, 2 * 4 * 48];
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_CORRUPT_FILE', message: expect.stringMatching(/attn_q/) });
  });

  it('a missing shared expert in qwen3next is reported', async () => {
    const spec = buildExtraArchSpec('qwen3next');
    spec.tensors = spec.tensors.filter((t) => t.name !== 'blk.2.ffn_down_shexp.weight');
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_CORRUPT_FILE', message: expect.stringMatching(/blk\.2\.ffn_down_shexp/) });
  });

  it('legacy qwen3next files (fused ssm_in) are refused as unsupported, clearly', async () => {
    const spec = buildExtraArchSpec('qwen3next');
    const qkv = spec.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight')!;
    spec.tensors = spec.tensors.filter((t) => t.name !== 'blk.0.attn_qkv.weight' && t.name !== 'blk.0.attn_gate.weight');
    spec.tensors.push({ ...qkv, name: 'blk.0.ssm_in.weight', shape: [E_NEXT, 2 * 32 + 2 * 64] });
    const err = await loadSpec(spec);
    expect(err).toMatchObject({ code: 'ERR_UNSUPPORTED' });
    expect((err as Error).message).toMatch(/ssm_in.*legacy.*re-convert/);
  });

  it('per-tensor scales (NVFP4 files) are refused rather than ignored', async () => {
    const spec = buildExtraArchSpec('qwen3');
    spec.tensors.push({ name: 'blk.0.attn_q.scale', shape: [1], type: 0, source: { kind: 'f32', data: Float32Array.of(0.5) } });
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/blk\.0\.attn_q\.scale/) });
  });

  it('the MTP block may be incomplete: it is never bound', async () => {
    const spec = buildExtraArchSpec('qwen3next');
    spec.tensors = spec.tensors.filter((t) => !t.name.startsWith('blk.4.attn_'));
    expect(await loadSpec(spec)).toBeUndefined();
  });

  it('a missing metadata key names the key', async () => {
    const spec = buildExtraArchSpec('qwen3');
    spec.metadata = spec.metadata.filter((kv) => kv.key !== 'qwen3.embedding_length');
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_CORRUPT_FILE', message: expect.stringMatching(/missing metadata key qwen3\.embedding_length/) });
  });

  it('an inconsistent key is reported', async () => {
    const spec = buildExtraArchSpec('qwen3next');
    spec.metadata.find((kv) => kv.key === 'qwen3next.ssm.time_step_rank')!.value = 3;
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_CORRUPT_FILE', message: expect.stringMatching(/ssm\.time_step_rank/) });
  });

  it('another architecture is unsupported', async () => {
    const spec = buildExtraArchSpec('qwen3');
    spec.metadata.find((kv) => kv.key === 'general.architecture')!.value = 'llama';
    expect(await loadSpec(spec)).toMatchObject({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/architecture 'llama' is not supported/) });
  });

  it('a missing file is an I/O error', async () => {
    await expect(loadModel(path.join(tmp.dir, 'nope.gguf'))).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});

describe('loadModel device options', () => {
  it.each([
    [{ device: 'gpu' }, "loadModel: device must be 'auto', 'cpu' or 'vulkan'"],
    [{ device: 1 }, "loadModel: device must be 'auto', 'cpu' or 'vulkan'"],
    [{ gpuLayers: -2 }, 'loadModel: gpuLayers must be a whole number from -1 (not given) to 2147483647'],
    [{ gpuLayers: 1.5 }, 'loadModel: gpuLayers must be a whole number from -1 (not given) to 2147483647'],
    [{ gpuLayers: 2 ** 31 }, 'loadModel: gpuLayers must be a whole number from -1 (not given) to 2147483647'],
    [{ gpuLayers: '99' }, 'loadModel: gpuLayers must be a whole number from -1 (not given) to 2147483647'],
  ])('%j is refused with one line before loading', async (options, message) => {
    await expect(loadModel(path.join(tmp.dir, 'never-read.gguf'), options as LoadModelOptions)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message });
  });

  it('the CPU by default: backend CPU, no device, no note; -ngl 0 and -1 say the same', async () => {
    const file = await presetModel('tiny');
    for (const options of [{}, { device: 'cpu', gpuLayers: 0 }, { device: 'cpu', gpuLayers: -1 }] as LoadModelOptions[]) {
      const model = await loadModel(file, { threads: 1, ...options });
      expect(model.info, JSON.stringify(options)).toMatchObject({ backend: 'CPU', deviceName: '', deviceNote: '' });
      model.dispose();
    }
  });

  it("auto says why it chose the CPU, or names the GPU it chose; the engine's own refusals arrive as they are", async () => {
    const file = await presetModel('tiny');
    const model = await loadModel(file, { threads: 1, device: 'auto' });
    const { backend, deviceName, deviceNote } = model.info;
    model.dispose();
    if (backend === 'CPU') expect({ deviceName, deviceNote }).toEqual({ deviceName: '', deviceNote: expect.stringMatching(/\S/) });
    else expect({ backend, deviceName, deviceNote }).toEqual({ backend: 'Vulkan', deviceName: expect.stringMatching(/\S/), deviceNote: '' });
    await expect(loadModel(file, { threads: 1, device: 'cpu', gpuLayers: 99 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/-ngl 99/),
    });
  });
});

describe('session misuse', () => {
  it('token ids outside the vocabulary are rejected and leave the session usable', async () => {
    const model = await loadModel(await presetModel('tiny'), { threads: 1 });
    const s = model.createSession();
    await expect(s.evaluate([1, 2, 512])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/token id 512 at index 2 is outside the vocabulary \(0\.\.511\)/),
    });
    expect(s.position).toBe(0);
    await s.evaluate([1, 2, 3]);
    expect(s.position).toBe(3);
    s.dispose();
    expect(() => s.save()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    await expect(s.evaluate([1])).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    model.dispose();
    expect(() => model.createSession()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  it('sessions outlive the model handle that made them', async () => {
    const model = await loadModel(await presetModel('tiny'), { threads: 1 });
    const s = model.createSession();
    model.dispose();
    const logits = await s.evaluate([5, 6, 7]);
    expect(logits!.length).toBe(512);
    s.dispose();
  });
});
