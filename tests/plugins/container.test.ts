import { join } from 'node:path';
import type { InjectionToken } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import {
  type ConditionBlender, type Image, PluginContainer, inject, injectable, PluginError, TOKENS, buildRecipe, buildRecipeFile, createRunContainer,
} from '../../core/index.ts';

const img = (values: number[]): Image => ({ width: values.length, height: 1, channels: 1, data: Float32Array.from(values) });

class Multiply implements ConditionBlender {
  readonly name = 'multiply';
  blend(a: Image, b: Image): Image {
    return { ...a, data: a.data.map((v, i) => v * b.data[i]!) };
  }
}

/** A consumer that gets its blender by injection, as recipe classes do. */
@injectable()
class ConditionMaker {
  constructor(@inject(TOKENS.ConditionBlender) readonly blender: ConditionBlender) {}
  make(l: Image, s: Image): Image {
    return this.blender.blend(l, s);
  }
}

/** A typed kind token used as a plain slot: these tests register stand-ins that are no real UNet/VAE/sampler. */
const untyped = (token: InjectionToken<unknown>) => token as InjectionToken<unknown>;

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'my-plugin');

describe('plugin container', () => {
  it('composes the custom blender from outside the framework folders through a JSON recipe', async () => {
    const { container } = await buildRecipeFile(join(fixtures, 'recipe.json'));
    const blender = container.resolve(TOKENS.ConditionBlender);
    expect(blender.name).toBe('screen');
    const out = blender.blend(img([0, 0.5, 1]), img([1, 1, 0]));
    expect(Array.from(out.data)).toEqual([0.5, 0.75, 1]); // 1 - (1-a)(1-0.5 b)
    container.register(TOKENS.ConditionBlender, 'multiply', { useClass: Multiply });
    // the selection from the config still wins over the later registration, for resolve and @inject alike
    container.register(untyped(TOKENS.UNet), 'maker', { useClass: ConditionMaker });
    expect((container.resolve(untyped(TOKENS.UNet)) as ConditionMaker).blender.name).toBe('screen');
    container.select(TOKENS.ConditionBlender, 'multiply');
    expect(container.resolve(TOKENS.ConditionBlender).name).toBe('multiply');
    expect(container.names(TOKENS.ConditionBlender)).toEqual(['screen', 'multiply']);
  });

  it('says what is registered when a token or name is missing', async () => {
    const c = await buildRecipe({ plugins: [{ module: './screen-blender.ts' }] }, { baseDir: fixtures });
    expect(() => c.resolve(TOKENS.ConditionBlender, 'alpha')).toThrow(PluginError);
    expect(() => c.resolve(TOKENS.ConditionBlender, 'alpha')).toThrow(/no ConditionBlender plugin named 'alpha'; registered ConditionBlender plugins: screen/);
    expect(() => c.resolve(TOKENS.VAE)).toThrow(/no VAE plugin is registered\. Registered kinds: ConditionBlender \(screen\)/);
    expect(() => c.select(TOKENS.ConditionBlender, 'nope')).toThrow(/registered ConditionBlender plugins: screen/);
    // the asked-for kind is listed first, then the others in registration order; nothing at all says 'none'
    const d = new PluginContainer().register(TOKENS.Dataset, 'd', { useValue: { name: 'd', length: 0, get: async () => 0 } });
    d.register(TOKENS.ConditionBlender, 'screen', { useValue: { name: 'screen', blend: (a) => a } });
    expect(() => d.resolve(TOKENS.ConditionBlender, 'alpha')).toThrow(
      "no ConditionBlender plugin named 'alpha'; registered ConditionBlender plugins: screen. Registered kinds: ConditionBlender (screen); Dataset (d)",
    );
    expect(() => new PluginContainer().resolve(TOKENS.VAE)).toThrow('no VAE plugin is registered. Registered kinds: none');
  });

  it('gives each run its own child container', () => {
    const base = new PluginContainer();
    base.register(TOKENS.ConditionBlender, 'multiply', { useClass: Multiply });
    const runA = createRunContainer(base);
    const runB = createRunContainer(base);
    runA.register(TOKENS.ConditionBlender, 'screen-a', { useValue: { name: 'screen-a', blend: (a: Image) => a } });
    expect(runA.names(TOKENS.ConditionBlender)).toEqual(['multiply', 'screen-a']);
    expect(runB.names(TOKENS.ConditionBlender)).toEqual(['multiply']);
    expect(runB.resolve(TOKENS.ConditionBlender)).toBe(base.resolve(TOKENS.ConditionBlender)); // singleton of its owner
    // @inject in a run container sees the run's own selection
    runA.select(TOKENS.ConditionBlender, 'screen-a');
    runA.register(untyped(TOKENS.UNet), 'maker', { useClass: ConditionMaker });
    expect((runA.resolve(untyped(TOKENS.UNet)) as ConditionMaker).blender.name).toBe('screen-a');
    expect(runA.resolveAll(TOKENS.ConditionBlender).map((b) => b.name)).toEqual(['multiply', 'screen-a']);
  });

  it('rejects bad configs and bad plugins with clear errors', async () => {
    await expect(buildRecipe({} as never)).rejects.toThrow(/needs a "plugins" array/);
    await expect(buildRecipe({ plugins: [{}] })).rejects.toThrow(/plugins\[0\] needs exactly one of "module" or "use"/);
    await expect(buildRecipe({ plugins: [{ use: 'telemetry/nope' }] })).rejects.toThrow(/no built-in plugin 'telemetry\/nope'; built-ins: backend, backend\/gpujs, telemetry\/jsonl, telemetry\/loss-curve, telemetry\/progress/);
    await expect(buildRecipe({ plugins: [{ module: './recipe.json' }] }, { baseDir: fixtures })).rejects.toThrow(/could not import plugin|does not export a register/);
    await expect(buildRecipe({ plugins: [{ module: './missing.ts' }] }, { baseDir: fixtures })).rejects.toThrow(/could not import plugin '.\/missing.ts'/);
    await expect(buildRecipe({ plugins: [], select: { Blender: 'x' } })).rejects.toThrow(/unknown kind 'Blender'; kinds: Backend, VAE/);
    const c = new PluginContainer();
    class NeedsArg {
      constructor(readonly x: number) {}
    }
    c.register(untyped(TOKENS.Sampler), 'maker', { useClass: ConditionMaker });
    expect(() => c.resolve(TOKENS.Sampler)).toThrow(/could not construct 'maker' \(ConditionMaker\): constructor parameter 0 needs a ConditionBlender, but no ConditionBlender plugin is registered\. Registered kinds: Sampler \(maker\)/);
    c.register(untyped(TOKENS.VAE), 'bad', { useClass: NeedsArg });
    expect(() => c.resolve(TOKENS.VAE)).toThrow(/could not construct 'bad' \(NeedsArg\).*@inject\(TOKEN\)/);
  });
});
