/** Every stage by name: the pipeline checker, `vrdata run` and the per-stage commands read this. */
import type { StageRegistry } from '../pipeline/config.js';
import { prepareStage } from './prepare.js';
import { sampleStage } from './sample.js';
import { scoreStage } from './score.js';
import { rolloutStage, priorSampleStage } from './rollout.js';
import { verifyStage } from './verify.js';
import { weighStage, weighLikStage } from './weigh.js';
import { buildStage, buildLikStage, buildPosteriorStage } from './build.js';
import { evalStage } from './eval.js';
import { trainStage } from './train.js';
import { initModelStage } from './init-model.js';
import { originalsStage } from './originals.js';
import { synthStage } from './synth.js';

export const stages: StageRegistry = {
  prepare: prepareStage,
  sample: sampleStage,
  score: scoreStage,
  rollout: rolloutStage,
  prior_sample: priorSampleStage,
  verify: verifyStage,
  weigh: weighStage,
  weigh_lik: weighLikStage,
  build: buildStage,
  build_lik: buildLikStage,
  build_posterior: buildPosteriorStage,
  train: trainStage,
  eval: evalStage,
  init_model: initModelStage,
  originals: originalsStage,
  synth: synthStage,
};
