/** Every stage by name: the pipeline checker, `vrdata run` and the per-stage commands read this. */
import type { StageRegistry } from '../pipeline/config.js';
import { prepareStage } from './prepare.js';

export const stages: StageRegistry = {
  prepare: prepareStage,
};
