/**
 * Renders one scene into its aligned maps. One rasterisation gives the G-buffer; everything
 * else is computed per pixel from it, so a pixel is tooth in every map or in none. Every map is
 * rendered at `supersample` times the size and box-filtered down with the same sub-pixels, so
 * edges are anti-aliased alike in all of them and the maps stay pixel-aligned:
 *  - target: enamel-like wrapped diffuse with a dentin-to-translucent-edge tint, Blinn-Phong
 *    specular, pink wet gums, key-light shadows (a shadow map), darker interproximal gaps
 *    (screen-space ambient occlusion from the depth buffer), a dark vignetted background;
 *  - lighting: the same lights, shadows and occlusion on a neutral grey material, no colour,
 *    tone-mapped without the display gamma so its gradations stay visible;
 *  - segmentation: the palette colour of each part (palette.ts), no shading;
 *  - depth: nearest = 1, farthest foreground = 0.1, background 0;
 *  - normal: camera-space unit normal as (n + 1) / 2 (x right, y up, z toward the viewer),
 *    background 0.
 */
import type { Image } from '../../core/plugins/tokens.ts';
import { cameraToWorld, frameCamera, lightCamera, project, type Camera } from './camera.ts';
import { type Mesh, type Vec3, normalize } from './mesh.ts';
import { BACKGROUND_COLOR, GUM_COLOR, toothColor } from './palette.ts';
import { rasterize, type GBuffer } from './rasterizer.ts';
import { buildJaw, PART_GUM, PART_PALATE, type SceneSpec } from './scene.ts';
import type { ToothKind } from './tooth.ts';

export interface RenderedSample {
  spec: SceneSpec;
  target: Image;
  lighting: Image;
  segmentation: Image;
  depth: Image;
  normal: Image;
  /** The G-buffer and camera of the supersampled frame (`supersample` times the output size). */
  gbuffer: GBuffer;
  camera: Camera;
  supersample: number;
}

/** Sub-pixels per output pixel along each axis: 2x2 anti-aliasing (about 2.5x the cost of none). */
export const DEFAULT_SUPERSAMPLE = 2;

function rgbImage(width: number, height: number): Image & { data: Float32Array } {
  return { width, height, channels: 3, data: new Float32Array(width * height * 3) };
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Filmic-ish tone curve then display gamma: keeps highlights from clipping flat. */
function display(linear: number): number {
  const mapped = 1 - Math.exp(-1.35 * Math.max(0, linear));
  return Math.pow(mapped, 1 / 2.2);
}

/** Fraction of the key light reaching each pixel, from a shadow map with 3x3 percentage-closer filtering. */
function keyShadow(g: GBuffer, keyWorld: Vec3, keyCamera: Vec3, mesh: Mesh): Float32Array {
  const size = Math.min(512, Math.max(96, 2 * Math.max(g.width, g.height)));
  const cam = lightCamera(keyWorld, mesh.positions, size);
  const map = rasterize(mesh, cam, true);
  const out = new Float32Array(g.width * g.height).fill(1);
  const texel = 1 / cam.pixelsPerUnit;
  for (let k = 0; k < out.length; k++) {
    if (g.part[k] === 0) continue;
    // slope-scaled bias: a surface grazed by the light needs more, or it shadows itself in stripes
    const ndl = Math.max(0.08, Math.abs(g.normal[k * 3]! * keyCamera[0] + g.normal[k * 3 + 1]! * keyCamera[1] + g.normal[k * 3 + 2]! * keyCamera[2]));
    const bias = 0.15 + texel * (1.5 + 2 * Math.sqrt(1 - ndl * ndl) / ndl);
    const [lx, ly, ld] = project(cam, [g.position[k * 3]!, g.position[k * 3 + 1]!, g.position[k * 3 + 2]!]);
    let lit = 0;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const x = Math.floor(lx) + dx, y = Math.floor(ly) + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) { lit++; continue; }
        if (ld >= map.depth[y * size + x]! - bias) lit++;
      }
    }
    out[k] = lit / 9;
  }
  return out;
}

/** Screen-space ambient occlusion: how much nearby geometry stands in front of each pixel. */
function ambientOcclusion(g: GBuffer, pixelsPerUnit: number): Float32Array {
  const W = g.width, H = g.height, out = new Float32Array(W * H).fill(1);
  const radius = Math.max(1.5, 1.8 * pixelsPerUnit);
  const dirs = 10;
  const offsets: Array<[number, number]> = [];
  for (let i = 0; i < dirs; i++) {
    const a = (i / dirs) * 2 * Math.PI + 0.3;
    for (const r of [0.35, 0.7, 1]) offsets.push([Math.round(Math.cos(a) * radius * r), Math.round(Math.sin(a) * radius * r)]);
  }
  const range = 2.5; // mm of depth over which an occluder counts fully
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const k = y * W + x;
      if (g.part[k] === 0) continue;
      const d = g.depth[k]!;
      let occ = 0;
      for (const [ox, oy] of offsets) {
        const xx = x + ox, yy = y + oy;
        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
        const dn = g.depth[yy * W + xx]!;
        const diff = dn - d;
        if (diff > 0.2 && diff < 8) occ += Math.min(1, (diff - 0.2) / range);
      }
      out[k] = 1 - 0.8 * Math.min(1, occ / (offsets.length * 0.45));
    }
  }
  return out;
}

/** The target's backdrop at pixel (x, y), channel c: the scene's dark colour with a soft vignette. */
export function backgroundAt(spec: SceneSpec, x: number, y: number, width: number, height: number, c: number): number {
  const dx = (x + 0.5) / width - 0.5, dy = (y + 0.5) / height - 0.45;
  return display(spec.background[c]! * (1.25 - 1.4 * (dx * dx + dy * dy)));
}

/** Smooth 3D value noise in [0, 1] (hashed lattice, trilinear with a smoothstep): enamel and gum mottling. */
function valueNoise(x: number, y: number, z: number): number {
  const xi = Math.floor(x), yi = Math.floor(y), zi = Math.floor(z);
  const fx = x - xi, fy = y - yi, fz = z - zi;
  const u = fx * fx * (3 - 2 * fx), v = fy * fy * (3 - 2 * fy), w = fz * fz * (3 - 2 * fz);
  const h = (i: number, j: number, k: number) => {
    let n = Math.imul(i, 0x27d4eb2d) ^ Math.imul(j, 0x165667b1) ^ Math.imul(k, 0x9e3779b1);
    n = Math.imul(n ^ (n >>> 15), 0x85ebca6b);
    return ((n ^ (n >>> 13)) >>> 0) / 4294967296;
  };
  const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
  return lerp(
    lerp(lerp(h(xi, yi, zi), h(xi + 1, yi, zi), u), lerp(h(xi, yi + 1, zi), h(xi + 1, yi + 1, zi), u), v),
    lerp(lerp(h(xi, yi, zi + 1), h(xi + 1, yi, zi + 1), u), lerp(h(xi, yi + 1, zi + 1), h(xi + 1, yi + 1, zi + 1), u), v),
    w,
  );
}

interface Surface {
  albedo: Vec3;
  /** Wrapped diffuse: light reaching past the terminator, the soft look of scattering under the surface. */
  wrap: number;
  /** A broad specular lobe (sheen)... */
  specular: number;
  shininess: number;
  /** ...and a tight one (the glint of a wet, polished surface). */
  gloss: number;
  glossShininess: number;
  /** Light passing through thin enamel: back- and side-lit edges glow in the translucency tint. */
  translucency: number;
}

/** Tint of light that went through enamel with no dentin behind it: cool grey-blue. */
const TRANSLUCENT_TINT: Vec3 = [0.7, 0.78, 0.9];

/** Mean of each `factor` x `factor` block: the supersampled map resolved to the output size. */
function boxDownsample(img: Image & { data: Float32Array }, factor: number): Image & { data: Float32Array } {
  if (factor === 1) return img;
  const W = img.width / factor, H = img.height / factor, C = img.channels;
  const out = { width: W, height: H, channels: C, data: new Float32Array(W * H * C) };
  const inv = 1 / (factor * factor);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          const row = ((y * factor + dy) * img.width + x * factor) * C + c;
          for (let dx = 0; dx < factor; dx++) sum += img.data[row + dx * C]!;
        }
        out.data[(y * W + x) * C + c] = sum * inv;
      }
    }
  }
  return out;
}

/**
 * Renders the scene's maps at width x height, each pixel the mean of supersample x supersample
 * sub-pixels (1: no anti-aliasing, every pixel one sample of the G-buffer).
 */
export function renderScene(spec: SceneSpec, width: number, height: number, supersample = DEFAULT_SUPERSAMPLE): RenderedSample {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 8 || height < 8) {
    throw new RangeError(`renderScene: image size must be integers >= 8, got ${width}x${height}`);
  }
  if (!Number.isInteger(supersample) || supersample < 1 || supersample > 8) {
    throw new RangeError(`renderScene: supersample must be an integer in [1, 8], got ${supersample}`);
  }
  const hi = renderFrame(spec, width * supersample, height * supersample);
  const [target, lighting, segmentation, depth, normal] = [hi.target, hi.lighting, hi.segmentation, hi.depth, hi.normal].map((m) => boxDownsample(m, supersample));
  return { spec, target: target!, lighting: lighting!, segmentation: segmentation!, depth: depth!, normal: normal!, gbuffer: hi.gbuffer, camera: hi.camera, supersample };
}

/** One sample per pixel: the maps of a width x height frame, straight from its G-buffer. */
function renderFrame(spec: SceneSpec, width: number, height: number) {
  const mesh = buildJaw(spec);
  const camera = frameCamera(spec, mesh.positions, width, height);
  const g = rasterize(mesh, camera);
  const L = spec.lights;
  const shadow = keyShadow(g, cameraToWorld(camera, L.key.direction), L.key.direction, mesh);
  const ao = ambientOcclusion(g, camera.pixelsPerUnit);

  const kinds = new Map<number, { kind: ToothKind; shade: number }>();
  for (const t of spec.teeth) kinds.set(t.fdi, { kind: t.kind, shade: t.shade });
  const lights = [
    { ...L.key, h: normalize([L.key.direction[0], L.key.direction[1], L.key.direction[2] + 1]), shadowed: true },
    { ...L.fill, h: normalize([L.fill.direction[0], L.fill.direction[1], L.fill.direction[2] + 1]), shadowed: false },
    { ...L.ring, h: [0, 0, 1] as Vec3, shadowed: false },
  ];

  const target = rgbImage(width, height), lighting = rgbImage(width, height), segmentation = rgbImage(width, height);
  const depth = rgbImage(width, height), normal = rgbImage(width, height);
  let zMin = Infinity, zMax = -Infinity;
  for (let k = 0; k < g.depth.length; k++) {
    if (g.part[k] === 0) continue;
    zMin = Math.min(zMin, g.depth[k]!);
    zMax = Math.max(zMax, g.depth[k]!);
  }
  const neutral = { albedo: 0.8, specular: 0.3, shininess: 40 };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = y * width + x, o = k * 3, part = g.part[k]!;
      if (part === 0) {
        for (let c = 0; c < 3; c++) {
          target.data[o + c] = backgroundAt(spec, x, y, width, height, c);
          segmentation.data[o + c] = BACKGROUND_COLOR[c]! / 255;
        }
        continue;
      }
      const n: Vec3 = [g.normal[o]!, g.normal[o + 1]!, g.normal[o + 2]!];
      // mottling at about 1.5 mm: a few percent of albedo, so surfaces are not plastic-flat
      const mottle = 0.94 + 0.12 * valueNoise(g.position[o]! * 0.7, g.position[o + 1]! * 0.7, g.position[o + 2]! * 0.7);
      let surface: Surface;
      let seg: readonly number[];
      if (part === PART_GUM || part === PART_PALATE) {
        // paler toward the base, a redder band along the gum line (the free gingiva)
        const t = part === PART_PALATE ? 0.6 : g.attr[k]!;
        const tone = (part === PART_PALATE ? 0.9 : 1) * (0.9 + 0.1 * t);
        const margin = 0.4 * smoothstep(0.82, 1, t);
        const red = [0.7, 0.22, 0.3];
        const albedo = [0, 1, 2].map((c) => spec.gum[c]! * tone * (1 - margin) + red[c]! * margin) as Vec3;
        surface = { albedo: [albedo[0] * mottle, albedo[1] * mottle, albedo[2] * mottle], wrap: 0.45, specular: 0.12, shininess: 18, gloss: 0.3, glossShininess: 110, translucency: 0 };
        seg = GUM_COLOR;
      } else {
        const info = kinds.get(part)!;
        const t = g.attr[k]!;
        const body = smoothstep(0.0, 0.55, t) * (1 - 0.35 * info.shade);
        const albedo: Vec3 = [0, 1, 2].map((c) => spec.dentin[c]! + (spec.enamel[c]! - spec.dentin[c]!) * body) as Vec3;
        if (info.kind === 'incisor' || info.kind === 'canine') {
          // translucent incisal edge: enamel without dentin behind it looks grey-blue
          const edge = 0.5 * smoothstep(0.72, 1, t);
          const tint = [0.66, 0.71, 0.8];
          for (let c = 0; c < 3; c++) albedo[c] = albedo[c]! + (tint[c]! - albedo[c]!) * edge;
        }
        const enamelMottle = 1 + (mottle - 1) * 0.5;
        // thin enamel (toward the biting edge, more on the front teeth) lets light through
        const thin = (info.kind === 'incisor' || info.kind === 'canine' ? 0.55 : 0.3) * smoothstep(0.45, 1, t);
        surface = {
          albedo: [albedo[0] * enamelMottle, albedo[1] * enamelMottle, albedo[2] * enamelMottle],
          wrap: 0.35, specular: 0.25, shininess: 30, gloss: 0.85, glossShininess: 160, translucency: thin,
        };
        seg = toothColor(part);
      }
      const occl = ao[k]!;
      const col: Vec3 = [0, 0, 0];
      let grey = 0;
      for (const l of lights) {
        const ndl = n[0] * l.direction[0] + n[1] * l.direction[1] + n[2] * l.direction[2];
        const vis = (l.shadowed ? 0.15 + 0.85 * shadow[k]! : 1) * Math.sqrt(occl);
        const diffuse = Math.max(0, (ndl + surface.wrap) / (1 + surface.wrap));
        const ndh = Math.max(0, n[0] * l.h[0] + n[1] * l.h[1] + n[2] * l.h[2]);
        const fresnel = 1 + 1.5 * Math.pow(1 - Math.max(0, n[2]), 5);
        const spec1 = ndl > 0 ? fresnel * (surface.specular * Math.pow(ndh, surface.shininess) + surface.gloss * Math.pow(ndh, surface.glossShininess)) : 0;
        // transmitted light: strongest where the light comes from behind the surface we see
        const through = surface.translucency * Math.max(0, 0.35 - ndl) * (1 - 0.5 * Math.max(0, n[2]));
        for (let c = 0; c < 3; c++) {
          col[c] = col[c]! + l.intensity * l.color[c]! * (vis * (surface.albedo[c]! * diffuse + spec1) + Math.sqrt(occl) * through * TRANSLUCENT_TINT[c]!);
        }
        const nd = Math.max(0, ndl);
        const nspec = ndl > 0 ? neutral.specular * Math.pow(ndh, neutral.shininess) : 0;
        grey += l.intensity * vis * (neutral.albedo * nd + nspec);
      }
      grey += L.ambient * occl * neutral.albedo;
      const gl = 1 - Math.exp(-1.5 * grey); // linear-ish (no display gamma): keeps the shading's gradations
      const dz = zMax > zMin ? (g.depth[k]! - zMin) / (zMax - zMin) : 1;
      for (let c = 0; c < 3; c++) {
        target.data[o + c] = display(col[c]! + L.ambient * occl * surface.albedo[c]!);
        lighting.data[o + c] = gl;
        segmentation.data[o + c] = seg[c]! / 255;
        depth.data[o + c] = 0.1 + 0.9 * dz;
        normal.data[o + c] = (n[c]! + 1) / 2;
      }
    }
  }
  return { target, lighting, segmentation, depth, normal, gbuffer: g, camera };
}
