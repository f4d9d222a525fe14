// The device the engine correctness tests run on: PETREL_TEST_DEVICE=cpu (default) or vulkan
// (`npm run test:engine:vulkan`). loadTestModel loads with it and fails the test when another
// backend runs the model, so a run that fell back to the CPU can never pass as a Vulkan run.
import { loadModel, type Device, type LoadModelOptions, type Model } from '../../../src/engine/index.js';

export type TestDevice = Extract<Device, 'cpu' | 'vulkan'>;

export function testDeviceFrom(value: string | undefined): TestDevice {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'cpu') return 'cpu';
  if (v === 'vulkan') return 'vulkan';
  throw new Error(`PETREL_TEST_DEVICE=${value}: expected cpu or vulkan`);
}

export const TEST_DEVICE: TestDevice = testDeviceFrom(process.env.PETREL_TEST_DEVICE);

/** The backend name ModelInfo.backend gives on each test device. */
const BACKEND: Record<TestDevice, string> = { cpu: 'CPU', vulkan: 'Vulkan' };

/** loadModel on TEST_DEVICE; an error unless that device's backend runs the model (never a silent fallback). */
export async function loadTestModel(file: string, options: Omit<LoadModelOptions, 'device'> = {}, device: TestDevice = TEST_DEVICE): Promise<Model> {
  const model = await loadModel(file, { ...options, device });
  const backend = model.info.backend;
  if (backend !== BACKEND[device]) {
    model.dispose();
    throw new Error(`PETREL_TEST_DEVICE=${device}, but ${file} runs on backend "${backend}", not "${BACKEND[device]}"`);
  }
  return model;
}
