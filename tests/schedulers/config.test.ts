import 'reflect-metadata';
import { container as rootContainer } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildRecipeFile } from '../../core/plugins/recipe.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerDiscreteScheduler,
  createScheduler,
  register,
  registeredSchedulers,
  schedulerFromDiffusersConfig,
  type NoiseSchedulerPlugin,
} from '../../plugins/schedulers/index.ts';

/** runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json (a PNDM config, as shipped). */
const SD15_JSON = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

describe('configs from diffusers scheduler_config.json', () => {
  it('maps snake_case keys to the camelCase config and ignores keys of other schedulers', () => {
    const s = DDIMScheduler.fromDiffusersConfig(SD15_JSON);
    expect(s.config).toMatchObject({
      numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear',
      setAlphaToOne: false, stepsOffset: 1, clipSample: false, trainedBetas: null,
      predictionType: 'epsilon', timestepSpacing: 'leading',
    });
    expect('skipPrkSteps' in s.config).toBe(false);
    s.setTimesteps(50);
    expect(s.timesteps.slice(0, 3)).toEqual([981, 961, 941]);
    expect(s.finalAlphaCumprod).toBeCloseTo(0.99915, 10);
  });

  it('swaps the scheduler class like DDIMScheduler.from_config(pipe.scheduler.config)', () => {
    expect(schedulerFromDiffusersConfig(SD15_JSON, 'DDIMScheduler')).toBeInstanceOf(DDIMScheduler);
    expect(schedulerFromDiffusersConfig(SD15_JSON, 'euler')).toBeInstanceOf(EulerDiscreteScheduler);
    const dpm = schedulerFromDiffusersConfig({ ...SD15_JSON, _class_name: 'DPMSolverMultistepScheduler', prediction_type: 'v_prediction', lambda_min_clipped: '-inf', use_karras_sigmas: true });
    expect(dpm).toBeInstanceOf(DPMSolverMultistepScheduler);
    expect(dpm.config).toMatchObject({ predictionType: 'v_prediction', lambdaMinClipped: -Infinity, useKarrasSigmas: true });
    expect(() => schedulerFromDiffusersConfig(SD15_JSON)).toThrow(/no scheduler named 'PNDMScheduler' \(registered: ddpm \(DDPMScheduler\), ddim \(DDIMScheduler\), euler \(EulerDiscreteScheduler\), dpmpp-2m \(DPMSolverMultistepScheduler\)\)/);
  });

  it('refuses features it does not implement instead of silently sampling differently', () => {
    expect(() => DDPMScheduler.fromDiffusersConfig({ variance_type: 'learned_range' })).toThrow(/ddpm.fromDiffusersConfig: variance_type = "learned_range" is not implemented/);
    expect(() => DPMSolverMultistepScheduler.fromDiffusersConfig({ use_lu_lambdas: true })).toThrow(/use_lu_lambdas = true is not implemented/);
    expect(() => DPMSolverMultistepScheduler.fromDiffusersConfig({ solver_order: 3 })).toThrow(/solverOrder must be 1 or 2/);
    expect(() => DPMSolverMultistepScheduler.fromDiffusersConfig({ algorithm_type: 'dpmsolver' })).toThrow(/algorithmType = "dpmsolver" is not supported/);
    expect(() => EulerDiscreteScheduler.fromDiffusersConfig({ interpolation_type: 'log_linear' })).toThrow(/interpolationType = "log_linear" is not supported/);
    // neutral values of unimplemented features are fine
    expect(() => DPMSolverMultistepScheduler.fromDiffusersConfig({ use_lu_lambdas: false, variance_type: null, euler_at_final: false })).not.toThrow();
  });

  it('validates camelCase options with messages naming the option', () => {
    expect(() => new DDIMScheduler({ betaSchedule: 'cosine' as never })).toThrow(/ddim: option betaSchedule = "cosine" is not supported \(use one of "linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"\)/);
    expect(() => new DDIMScheduler({ stepsOfset: 1 } as never)).toThrow(/ddim: unknown option 'stepsOfset'/);
    expect(() => new DDIMScheduler({ clipSample: 'no' as never })).toThrow(/option clipSample must be a boolean/);
    expect(() => new DDPMScheduler({ numTrainTimesteps: 1 })).toThrow(/numTrainTimesteps must be an integer >= 2/);
    expect(() => new EulerDiscreteScheduler({ betaStart: 0.1, betaEnd: 0.01 })).toThrow(/need 0 <= betaStart <= betaEnd < 1/);
  });
});

describe('plugin registration (tsyringe)', () => {
  it('register(container) puts one factory per scheduler under TOKENS.NoiseScheduler', () => {
    const c = rootContainer.createChildContainer();
    expect(registeredSchedulers(c)).toEqual([]);
    register(c);
    const plugins = c.resolveAll(TOKENS.NoiseScheduler) as NoiseSchedulerPlugin[];
    expect(plugins.map((p) => p.name)).toEqual(['ddpm', 'ddim', 'euler', 'dpmpp-2m']);
    expect(plugins[2]!.defaults.timestepSpacing).toBe('linspace');
  });

  it('createScheduler gives a fresh, configured scheduler per call, by name or diffusers class name', () => {
    const c = rootContainer.createChildContainer();
    register(c);
    const a = createScheduler(c, 'ddim', { stepsOffset: 1 });
    const b = createScheduler(c, 'DDIMScheduler');
    expect(a).not.toBe(b);
    a.setTimesteps(10);
    expect(a.timesteps[0]).toBe(901);
    expect(b.numInferenceSteps).toBeNull();
    expect(() => createScheduler(c, 'pndm')).toThrow(/no scheduler named 'pndm'/);
  });
});

describe('plugin registration (framework PluginContainer, recipes)', () => {
  it('registers each scheduler under its name, so a recipe can load the module and select one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sched-recipe-'));
    const file = join(dir, 'recipe.json');
    writeFileSync(file, JSON.stringify({ plugins: [{ module: resolve('plugins/schedulers/index.ts') }], select: { NoiseScheduler: 'euler' } }));
    const run = await buildRecipeFile(file);
    expect(run.container.names(TOKENS.NoiseScheduler)).toEqual(['ddpm', 'ddim', 'euler', 'dpmpp-2m']);
    expect(run.container.resolve(TOKENS.NoiseScheduler).name).toBe('euler');
    expect(registeredSchedulers(run.container).map((p) => p.name)).toEqual(['ddpm', 'ddim', 'euler', 'dpmpp-2m']);
    const s = createScheduler(run.container, 'DDIMScheduler', { stepsOffset: 1 });
    s.setTimesteps(10);
    expect(s.timesteps[0]).toBe(901);
    rmSync(dir, { recursive: true, force: true });
  });
});
