import { defineConfig } from 'vitest/config';
export default defineConfig({ test: { include: ['test/synth/scratch/*.scratch.ts'], testTimeout: 1200000, hookTimeout: 1200000, pool: 'forks' } });
