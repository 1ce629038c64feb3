// Image names and tags. The committed manifests say :dev; a deploy tags by content, so Knative makes a
// new revision exactly when an image changed.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { FUNCTIONS, SOURCES, bundlePath } from "../../esbuild.config";
import { ROOT } from "./names";

/** Knative resolves tags to digests through a registry unless the name is in config-deployment's skip list, which has dev.local by default; kind-loaded images have no registry. */
export const IMAGE_PREFIX = "dev.local/uitgo";
/** The tag in the committed manifests; deploy renders the content tag instead (see `deploy`). */
export const DEV_TAG = "dev";
export const DOCKERFILE = "infra/Dockerfile";

export type ImageKind = "functions" | "sources";
export type TagFor = (kind: ImageKind, name: string) => string;

export function imageName(kind: ImageKind, name: string): string {
  return `${IMAGE_PREFIX}/${kind === "sources" ? `source-${name}` : name}`;
}

/** The image reference a manifest names, with the tag `tag` gives it. */
export function imageRef(kind: ImageKind, name: string, tag: TagFor): string {
  return `${imageName(kind, name)}:${tag(kind, name)}`;
}

/** An image tag that changes exactly when the image would: the Dockerfile and the bundle. */
export function contentTag(kind: ImageKind, name: string): string {
  const hash = createHash("sha256");
  hash.update(readFileSync(join(ROOT, DOCKERFILE)));
  hash.update(readFileSync(bundlePath(kind, name)));
  return hash.digest("hex").slice(0, 12);
}

/** The images to build: one per function and one per source, tagged by content. */
export function images(): { image: string; bundle: string }[] {
  return [
    ...FUNCTIONS.map((name) => ({ kind: "functions" as const, name })),
    ...SOURCES.map((name) => ({ kind: "sources" as const, name })),
  ].map(({ kind, name }) => ({ image: imageRef(kind, name, contentTag), bundle: relative(ROOT, bundlePath(kind, name)) }));
}
