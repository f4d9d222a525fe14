// The TypeScript layer order of docs/ARCHITECTURE.md, checked by `npm run lint:layers` (part of
// `npm test`). A module may import its own folder and the layers below its own; never a layer
// above, nor another folder of its own layer (siblings stay independent). A folder that is in no
// layer fails too: add it to LAYERS where it belongs.

/** Top to bottom. Each entry is a folder of src/ (or, for errors, the file src/errors.ts). */
const LAYERS = [
  { name: 'command line', units: ['cli'] },
  { name: 'applications', units: ['chat', 'bench'] },
  { name: 'generation', units: ['generate'] },
  { name: 'model files and downloads', units: ['quantize', 'synth', 'store'] },
  { name: 'checkpoint conversion', units: ['convert'] },
  { name: 'runtime', units: ['engine', 'tokenizer', 'templates', 'gguf'] },
  { name: 'native binding', units: ['native'] },
  { name: 'shared leaves', units: ['format', 'errors'] },
];

const FILE_UNITS = new Set(['errors']);
const unitPath = (unit) => (FILE_UNITS.has(unit) ? `src/${unit}\\.ts$` : `src/${unit}/`);
const anyOf = (units) => `^(${units.map(unitPath).join('|')})`;
const allUnits = LAYERS.flatMap((layer) => layer.units);

const layerRules = LAYERS.flatMap((layer, index) =>
  layer.units.map((unit) => {
    const above = LAYERS.slice(0, index).flatMap((l) => l.units);
    const siblings = layer.units.filter((u) => u !== unit);
    const below = LAYERS.slice(index + 1).flatMap((l) => l.units);
    const where = FILE_UNITS.has(unit) ? `src/${unit}.ts` : `src/${unit}/`;
    return {
      name: `layers: ${unit}`,
      severity: 'error',
      comment:
        `${where} (layer ${index + 1}, ${layer.name}) imports a module above it or beside it. ` +
        `It may import: ${below.length ? below.join(', ') : 'nothing in src/'} ` +
        '(layer order: docs/ARCHITECTURE.md, .dependency-cruiser.cjs)',
      from: { path: `^${unitPath(unit)}` },
      to: { path: anyOf([...above, ...siblings]) },
    };
  }).filter((rule) => rule.to.path !== '^()'),
);

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'layers: unlisted folder',
      severity: 'error',
      comment: 'a module of src/ outside every layer: add its folder to LAYERS in .dependency-cruiser.cjs and to docs/ARCHITECTURE.md',
      from: { path: '^src/', pathNot: anyOf(allUnits) },
      to: {},
    },
    {
      name: 'layers: import of an unlisted folder',
      severity: 'error',
      comment: 'an import of a module of src/ outside every layer: add its folder to LAYERS in .dependency-cruiser.cjs',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: anyOf(allUnits) },
    },
    {
      name: 'commander only in cli',
      severity: 'error',
      comment: 'command-line flags are defined in src/cli/; lower layers take plain options',
      from: { path: '^src/', pathNot: anyOf(['cli']) },
      to: { path: 'node_modules/commander/' },
    },
    {
      name: 'no cycles',
      severity: 'error',
      comment: 'modules that import each other, directly or through others',
      from: { path: '^src/' },
      // A cycle closed by a type-only import (Session naming its Model) is gone at run time.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'resolvable',
      severity: 'error',
      comment: 'an import that resolves to no file',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type from a layer above couples the layers as much as a value does.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
