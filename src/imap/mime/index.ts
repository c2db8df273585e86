export { analyzeMessage, analyzeBuffer } from './analyze.js';
export { envelopeToImap, bodyStructureToImap } from './format.js';
export * from './section.js';
export * from './types.js';
