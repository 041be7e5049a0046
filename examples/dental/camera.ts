/**
 * Orthographic cameras for the five named views. A view is a base direction to the camera,
 * jittered per sample; the camera frames the whole jaw with a margin. Orthographic, because a
 * dental model is photographed from far with a long lens, and it keeps depth linear.
 */
import { cross, dot, normalize, scale, add, sub, type Vec3 } from './mesh.ts';
import type { SceneSpec, View } from './scene.ts';

export interface Camera {
  width: number;
  height: number;
  /** Unit axes in world space: image right, image up, and toward the camera. */
  right: Vec3;
  up: Vec3;
  back: Vec3;
  /** World point at the image centre; pixels per world unit (mm). */
  center: Vec3;
  pixelsPerUnit: number;
}

/** Base azimuth (0 = in front of the patient, + toward the patient's left) and elevation, radians. */
const VIEW_ANGLES: Record<View, { azimuth: number; elevation: number }> = {
  front: { azimuth: 0, elevation: 0.1 },
  top: { azimuth: 0, elevation: 0.8 },
  bottom: { azimuth: 0, elevation: -0.8 },
  left: { azimuth: 1.2, elevation: 0.12 },
  right: { azimuth: -1.2, elevation: 0.12 },
};

/** Orthonormal camera axes looking from direction (azimuth, elevation), rolled by `roll`. */
export function viewAxes(azimuth: number, elevation: number, roll: number): { right: Vec3; up: Vec3; back: Vec3 } {
  const back: Vec3 = normalize([Math.sin(azimuth) * Math.cos(elevation), -Math.cos(azimuth) * Math.cos(elevation), Math.sin(elevation)]);
  const right0 = normalize(cross([0, 0, 1], back));
  const up0 = cross(back, right0);
  const c = Math.cos(roll), s = Math.sin(roll);
  return { right: add(scale(right0, c), scale(up0, s)), up: add(scale(up0, c), scale(right0, -s)), back };
}

/** The extent of `positions` (world space) along the image axes `right` and `up`. */
function extent(positions: Float32Array, right: Vec3, up: Vec3): { minX: number; maxX: number; minY: number; maxY: number } {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (let v = 0; v < positions.length; v += 3) {
    const p: Vec3 = [positions[v]!, positions[v + 1]!, positions[v + 2]!];
    const x = dot(p, right), y = dot(p, up);
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  return { minX, maxX, minY, maxY };
}

/** The camera of a scene's view, framing every vertex in `positions` (world space). */
export function frameCamera(spec: SceneSpec, positions: Float32Array, width: number, height: number): Camera {
  const base = VIEW_ANGLES[spec.view];
  const { right, up, back } = viewAxes(base.azimuth + spec.azimuth, base.elevation + spec.elevation, spec.roll);
  const { minX, maxX, minY, maxY } = extent(positions, right, up);
  const pixelsPerUnit = Math.min((width * 0.92 * spec.zoom) / (maxX - minX), (height * 0.92 * spec.zoom) / (maxY - minY));
  const cx = (minX + maxX) / 2 - (spec.panX * width) / pixelsPerUnit;
  const cy = (minY + maxY) / 2 - (spec.panY * height) / pixelsPerUnit;
  return { width, height, right, up, back, center: add(scale(right, cx), scale(up, cy)), pixelsPerUnit };
}

/** An orthographic camera looking along -direction that frames `positions` in a square of `size` pixels (shadow maps). */
export function lightCamera(direction: Vec3, positions: Float32Array, size: number): Camera {
  const back = normalize(direction);
  const hint: Vec3 = Math.abs(back[2]) > 0.9 ? [0, 1, 0] : [0, 0, 1];
  const right = normalize(cross(hint, back));
  const up = cross(back, right);
  const { minX, maxX, minY, maxY } = extent(positions, right, up);
  const pixelsPerUnit = (size * 0.98) / Math.max(maxX - minX, maxY - minY);
  return { width: size, height: size, right, up, back, center: add(scale(right, (minX + maxX) / 2), scale(up, (minY + maxY) / 2)), pixelsPerUnit };
}

/** World direction of a camera-space vector (x right, y up, z toward the viewer). */
export function cameraToWorld(cam: Camera, v: Vec3): Vec3 {
  return add(add(scale(cam.right, v[0]), scale(cam.up, v[1])), scale(cam.back, v[2]));
}

/** Pixel coordinates (x right, y down, pixel centres at +0.5) and depth (toward the camera) of a world point. */
export function project(cam: Camera, p: Vec3): [number, number, number] {
  const d = sub(p, cam.center);
  return [cam.width / 2 + dot(d, cam.right) * cam.pixelsPerUnit, cam.height / 2 - dot(d, cam.up) * cam.pixelsPerUnit, dot(d, cam.back)];
}
