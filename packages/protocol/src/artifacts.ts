/**
 * Module artifacts (process modules' archives) live in a NATS JetStream object store bucket; a manifest names one
 * with an `os://<bucket>/<object>` ref, which `POST /api/v1/artifacts` returns with the sha256 the manifest must carry.
 * The agent also accepts `file:///absolute/path` and `https://…` refs.
 */
export const ARTIFACTS_BUCKET = 'outpost-artifacts';

const OBJECT_STORE_SCHEME = 'os:';

/** Object names: what is safe in a NATS subject-derived key and a file name. */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function artifactRef(objectName: string, bucket: string = ARTIFACTS_BUCKET): string {
  if (!ARTIFACT_NAME_PATTERN.test(objectName)) {
    throw new TypeError(`artifact name "${objectName}" must be letters, digits, '.', '-' or '_' (at most 200)`);
  }
  return `${OBJECT_STORE_SCHEME}//${bucket}/${objectName}`;
}

export type ParsedArtifactRef =
  | { readonly kind: 'object-store'; readonly bucket: string; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'https'; readonly url: string };

/** Reads a manifest's artifact ref, or returns a sentence saying why it is not one. */
export function parseArtifactRef(ref: string): ParsedArtifactRef | { readonly error: string } {
  if (!URL.canParse(ref))
    return { error: `artifact ref "${ref}" is not a URL (os://bucket/name, file:///path, https://…)` };
  const url = new URL(ref);
  switch (url.protocol) {
    case OBJECT_STORE_SCHEME: {
      const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
      if (!url.hostname || !ARTIFACT_NAME_PATTERN.test(name)) {
        return { error: `artifact ref "${ref}" must look like os://<bucket>/<name>` };
      }
      return { kind: 'object-store', bucket: url.hostname, name };
    }
    case 'file:':
      return { kind: 'file', path: decodeURIComponent(url.pathname) };
    case 'https:':
      return { kind: 'https', url: url.href };
    default:
      return { error: `artifact ref "${ref}": scheme ${url.protocol} is not supported (os:, file:, https:)` };
  }
}
