// Next's ambient types (CSS modules, images) without needing the generated, git-ignored next-env.d.ts: `tsc --noEmit`
// must pass on a fresh clone before any `next build` or `next dev` has run.
/// <reference types="next" />
/// <reference types="next/image-types/global" />
