/**
 * A scanline-free triangle rasteriser with a z-buffer: for each triangle, every pixel centre in
 * its bounding box is tested with edge functions and its barycentric weights interpolate depth,
 * normal, world position and the shading attribute. The result is a G-buffer; all the maps
 * (target, lighting, segmentation, depth, normal) are shaded from the same one, which is what
 * keeps them pixel-aligned. No back-face culling: the nearest surface wins.
 */
import { project, type Camera } from './camera.ts';
import { dot, type Vec3 } from './mesh.ts';
import type { Mesh } from './mesh.ts';

export interface GBuffer {
  width: number;
  height: number;
  /** Depth toward the camera (world units); -Infinity where nothing was drawn. */
  depth: Float32Array;
  /** Part id per pixel (0: background). */
  part: Uint16Array;
  /** Unit normal per pixel in camera space (x right, y up, z toward the viewer), 3 per pixel. */
  normal: Float32Array;
  /** World position per pixel, 3 per pixel. */
  position: Float32Array;
  /** Interpolated vertex attribute per pixel. */
  attr: Float32Array;
}

/** Rasterises `mesh` through `cam`. With `depthOnly`, fills only depth (shadow maps). */
export function rasterize(mesh: Mesh, cam: Camera, depthOnly = false): GBuffer {
  const W = cam.width, H = cam.height, N = W * H;
  const g: GBuffer = {
    width: W,
    height: H,
    depth: new Float32Array(N).fill(-Infinity),
    part: new Uint16Array(depthOnly ? 0 : N),
    normal: new Float32Array(depthOnly ? 0 : N * 3),
    position: new Float32Array(depthOnly ? 0 : N * 3),
    attr: new Float32Array(depthOnly ? 0 : N),
  };
  const P = mesh.positions, NV = P.length / 3;
  const sx = new Float32Array(NV), sy = new Float32Array(NV), sz = new Float32Array(NV);
  const cn = new Float32Array(depthOnly ? 0 : NV * 3);
  for (let v = 0; v < NV; v++) {
    const [x, y, z] = project(cam, [P[v * 3]!, P[v * 3 + 1]!, P[v * 3 + 2]!]);
    sx[v] = x; sy[v] = y; sz[v] = z;
    if (!depthOnly) {
      const n: Vec3 = [mesh.normals[v * 3]!, mesh.normals[v * 3 + 1]!, mesh.normals[v * 3 + 2]!];
      cn[v * 3] = dot(n, cam.right);
      cn[v * 3 + 1] = dot(n, cam.up);
      cn[v * 3 + 2] = dot(n, cam.back);
    }
  }
  const idx = mesh.indices, depth = g.depth;
  for (let t = 0, tri = 0; t < idx.length; t += 3, tri++) {
    const a = idx[t]!, b = idx[t + 1]!, c = idx[t + 2]!;
    const ax = sx[a]!, ay = sy[a]!, bx = sx[b]!, by = sy[b]!, cx = sx[c]!, cy = sy[c]!;
    const area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
    if (Math.abs(area) < 1e-9) continue;
    const x0 = Math.max(0, Math.ceil(Math.min(ax, bx, cx) - 0.5));
    const x1 = Math.min(W - 1, Math.floor(Math.max(ax, bx, cx) - 0.5));
    const y0 = Math.max(0, Math.ceil(Math.min(ay, by, cy) - 0.5));
    const y1 = Math.min(H - 1, Math.floor(Math.max(ay, by, cy) - 0.5));
    if (x0 > x1 || y0 > y1) continue;
    const inv = 1 / area;
    // A triangle seen from behind (its normals face away) is shaded on the side we see.
    const flip = !depthOnly && cn[a * 3 + 2]! + cn[b * 3 + 2]! + cn[c * 3 + 2]! < 0 ? -1 : 1;
    const za = sz[a]!, zb = sz[b]!, zc = sz[c]!;
    for (let y = y0; y <= y1; y++) {
      const py = y + 0.5;
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5;
        const w0 = ((bx - px) * (cy - py) - (by - py) * (cx - px)) * inv;
        const w1 = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) * inv;
        const w2 = 1 - w0 - w1;
        if (w0 < 0 || w1 < 0 || w2 < 0) continue;
        const z = w0 * za + w1 * zb + w2 * zc;
        const k = y * W + x;
        if (z <= depth[k]!) continue;
        depth[k] = z;
        if (depthOnly) continue;
        g.part[k] = mesh.partIds[tri]!;
        const nx0 = w0 * cn[a * 3]! + w1 * cn[b * 3]! + w2 * cn[c * 3]!;
        const ny0 = w0 * cn[a * 3 + 1]! + w1 * cn[b * 3 + 1]! + w2 * cn[c * 3 + 1]!;
        const nz0 = w0 * cn[a * 3 + 2]! + w1 * cn[b * 3 + 2]! + w2 * cn[c * 3 + 2]!;
        const l = Math.hypot(nx0, ny0, nz0) || 1;
        const nx = (nx0 * flip) / l, ny = (ny0 * flip) / l, nz = (nz0 * flip) / l;
        g.normal[k * 3] = nx; g.normal[k * 3 + 1] = ny; g.normal[k * 3 + 2] = nz;
        for (let d = 0; d < 3; d++) {
          g.position[k * 3 + d] = w0 * P[a * 3 + d]! + w1 * P[b * 3 + d]! + w2 * P[c * 3 + d]!;
        }
        g.attr[k] = w0 * mesh.attr[a]! + w1 * mesh.attr[b]! + w2 * mesh.attr[c]!;
      }
    }
  }
  return g;
}
