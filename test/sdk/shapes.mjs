// Response-shape requirements of both SDK generations, for the raw-HTTP
// tests of the path-scoped route family (next-routes.test.mjs).
//
// Every operation lists three tiers:
//   v117        what @pierre/storage 1.17.1 requires (its zod schemas, see
//               API.md §5 and node_modules/@pierre/storage/dist),
//   next        what the newest SDK generation requires (API-next.md §1 last
//               column: the TS zod schemas, Go decoders and the Python
//               parser that indexes keys directly),
//   documented  fields the public REST reference (SKILL.md) documents for
//               the call although no SDK validates them.
// plus `aliases`: old/new field pairs of the standard vocabulary that a
// server MUST send together and with equal values ("Response aliases" in
// API-next.md §1), so that a response satisfies both generations at once.
//
// assertShape() applies all of that to one response body; the same check
// runs on responses of /api/v1/... and of /api/repos/{name}/....
import assert from 'node:assert/strict';

// ------------------------------------------------------------ spec language

const STRING = Object.freeze({ kind: 'string' });
const NUMBER = Object.freeze({ kind: 'number' });
const BOOLEAN = Object.freeze({ kind: 'boolean' });
/** Key may be absent; `null` is rejected (zod .optional()). */
const opt = (of) => ({ kind: 'optional', of, nullable: false });
/** Key may be absent or null (zod .nullable().optional()). */
const optNull = (of) => ({ kind: 'optional', of, nullable: true });
const arr = (of) => ({ kind: 'array', of });
const rec = (of) => ({ kind: 'record', of });
const oneOf = (...values) => ({ kind: 'enum', values });
const literal = (value) => ({ kind: 'literal', value });

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isPlainSpec(spec) {
  return spec && typeof spec === 'object' && !('kind' in spec);
}

function check(value, spec, path, out) {
  if (isPlainSpec(spec)) {
    if (typeOf(value) !== 'object') {
      out.push(`${path || '<body>'}: want object, got ${typeOf(value)}`);
      return;
    }
    for (const [key, fieldSpec] of Object.entries(spec)) {
      const fieldPath = path ? `${path}.${key}` : key;
      const present = Object.prototype.hasOwnProperty.call(value, key) && value[key] !== undefined;
      if (fieldSpec.kind === 'optional') {
        if (!present) continue;
        if (value[key] === null) {
          if (!fieldSpec.nullable) out.push(`${fieldPath}: null is not accepted here (omit the key instead)`);
          continue;
        }
        check(value[key], fieldSpec.of, fieldPath, out);
        continue;
      }
      if (!present) {
        out.push(`${fieldPath}: missing`);
        continue;
      }
      check(value[key], fieldSpec, fieldPath, out);
    }
    return;
  }
  switch (spec.kind) {
    case 'string':
    case 'number':
    case 'boolean':
      if (typeOf(value) !== spec.kind) out.push(`${path}: want ${spec.kind}, got ${typeOf(value)} ${JSON.stringify(value)?.slice(0, 60)}`);
      return;
    case 'enum':
      if (!spec.values.includes(value)) out.push(`${path}: want one of ${spec.values.join('|')}, got ${JSON.stringify(value)}`);
      return;
    case 'literal':
      if (value !== spec.value) out.push(`${path}: want ${JSON.stringify(spec.value)}, got ${JSON.stringify(value)}`);
      return;
    case 'array':
      if (!Array.isArray(value)) {
        out.push(`${path}: want array, got ${typeOf(value)}`);
        return;
      }
      value.forEach((item, i) => check(item, spec.of, `${path}[${i}]`, out));
      return;
    case 'record':
      if (typeOf(value) !== 'object') {
        out.push(`${path}: want object (record), got ${typeOf(value)}`);
        return;
      }
      for (const [k, v] of Object.entries(value)) check(v, spec.of, `${path}[${JSON.stringify(k)}]`, out);
      return;
    case 'optional':
      if (value === undefined) return;
      if (value === null && !spec.nullable) {
        out.push(`${path}: null is not accepted here`);
        return;
      }
      if (value !== null) check(value, spec.of, path, out);
      return;
    default:
      throw new Error(`bad spec at ${path}: ${JSON.stringify(spec)}`);
  }
}

/** Values at a dotted path; `a[].b` fans out over array `a`. */
function valuesAt(body, path) {
  let current = [{ value: body, where: '' }];
  for (const part of path.split('.')) {
    const fan = part.endsWith('[]');
    const key = fan ? part.slice(0, -2) : part;
    const next = [];
    for (const { value, where } of current) {
      const here = where ? `${where}.${key}` : key;
      const v = value && typeof value === 'object' ? value[key] : undefined;
      if (fan) {
        if (Array.isArray(v)) v.forEach((item, i) => next.push({ value: item, where: `${here}[${i}]` }));
      } else {
        next.push({ value: v, where: here });
      }
    }
    current = next;
  }
  return current;
}

// ------------------------------------------------------------ shared parts

const commitInfo = {
  sha: STRING,
  parent_shas: arr(STRING),
  message: STRING,
  author_name: STRING,
  author_email: STRING,
  committer_name: STRING,
  committer_email: STRING,
  date: STRING,
};
const diffStats = { files: NUMBER, additions: NUMBER, deletions: NUMBER, changes: NUMBER };
const diffFile = {
  path: STRING,
  state: STRING,
  old_path: optNull(STRING),
  raw: STRING,
  bytes: NUMBER,
  is_eof: BOOLEAN,
  additions: opt(NUMBER),
  deletions: opt(NUMBER),
};
const filteredFile = { path: STRING, state: STRING, old_path: optNull(STRING), bytes: NUMBER, is_eof: BOOLEAN };
const blameLine = {
  line_number: NUMBER,
  commit_sha: STRING,
  original_line_number: NUMBER,
  original_path: STRING,
  previous_commit_sha: opt(STRING),
  author_name: STRING,
  author_email: STRING,
  author_time: STRING,
  committer_name: STRING,
  committer_email: STRING,
  committer_time: STRING,
  summary: STRING,
};
const treeEntryType = oneOf('blob', 'tree', 'symlink', 'submodule');
const commitPackCommit = { commit_sha: STRING, tree_sha: STRING, target_branch: STRING, pack_bytes: NUMBER, blob_count: NUMBER };
const restoreCommitCommit = { commit_sha: STRING, tree_sha: STRING, target_branch: STRING, pack_bytes: NUMBER };
const refUpdateCommon = { old_sha: STRING, new_sha: STRING, success: BOOLEAN, status: STRING, message: opt(STRING) };
const previewBlob = { oid: opt(STRING), content: opt(STRING), truncated: BOOLEAN, binary: BOOLEAN };

// ------------------------------------------------------------ per call

export const SHAPES = {
  createRepo: {
    // 1.17.1 and newest only look at the status; the body must still be JSON.
    v117: {},
    next: {},
    documented: { repo_id: STRING, repo_name: STRING, message: STRING },
  },
  listRepos: {
    v117: {
      repos: arr({
        repo_id: STRING,
        url: STRING,
        default_branch: STRING,
        created_at: STRING,
        base_repo: optNull({ provider: STRING, owner: STRING, name: STRING }),
      }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
    next: {
      repos: arr({
        repo_id: STRING,
        repo_name: opt(STRING),
        url: opt(STRING),
        default_branch: STRING,
        created_at: STRING,
        base_repo: optNull({ provider: STRING, owner: STRING, name: STRING }),
      }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
    aliases: [['repos[].repo_name', 'repos[].url']],
  },
  findOne: {
    v117: {},
    next: {},
    documented: { default_branch: STRING, created_at: STRING },
  },
  deleteRepo: {
    v117: { repo_id: STRING, message: STRING },
    next: { repo_id: STRING, message: STRING },
  },
  createGitCredential: { v117: { id: STRING }, next: { id: STRING } },
  updateGitCredential: {
    v117: { id: STRING, created_at: opt(STRING) },
    next: { id: STRING, created_at: opt(STRING) },
  },
  listFiles: {
    v117: {
      paths: arr(STRING),
      ref: STRING,
      entries: opt(arr({ path: STRING, type: treeEntryType, mode: STRING })),
      next_cursor: optNull(STRING),
      has_more: opt(BOOLEAN),
    },
    next: {
      paths: arr(STRING),
      ref: STRING,
      entries: opt(arr({ path: STRING, type: treeEntryType, mode: STRING })),
      next_cursor: optNull(STRING),
      has_more: opt(BOOLEAN),
    },
  },
  listFilesWithMetadata: {
    v117: {
      files: arr({ path: STRING, mode: STRING, size: NUMBER, last_commit_sha: STRING, type: opt(treeEntryType) }),
      commits: rec({ author: STRING, date: STRING, message: STRING }),
      ref: STRING,
      next_cursor: optNull(STRING),
      has_more: opt(BOOLEAN),
    },
    next: {
      files: arr({ path: STRING, mode: STRING, size: NUMBER, last_commit_sha: STRING, type: opt(treeEntryType) }),
      commits: rec({ author: STRING, date: STRING, message: STRING }),
      ref: STRING,
      next_cursor: optNull(STRING),
      has_more: opt(BOOLEAN),
    },
  },
  listBranches: {
    v117: {
      branches: arr({ cursor: STRING, name: STRING, head_sha: STRING, created_at: STRING }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
    next: {
      branches: arr({ cursor: STRING, name: STRING, head_sha: STRING, created_at: STRING }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
  },
  getBranch: {
    v117: null, // no such call in 1.17.1
    next: { branch: { name: STRING, head_sha: STRING, created_at: STRING } },
  },
  listTags: {
    v117: { tags: arr({ cursor: STRING, name: STRING, sha: STRING }), next_cursor: optNull(STRING), has_more: BOOLEAN },
    next: { tags: arr({ cursor: STRING, name: STRING, sha: STRING }), next_cursor: optNull(STRING), has_more: BOOLEAN },
  },
  getTag: {
    v117: null,
    next: { tag: { name: STRING, sha: STRING } },
  },
  listCommits: {
    v117: { commits: arr(commitInfo), next_cursor: optNull(STRING), has_more: BOOLEAN },
    next: { commits: arr(commitInfo), next_cursor: optNull(STRING), has_more: BOOLEAN },
  },
  getCommit: {
    v117: { commit: { ...commitInfo, signature: opt(STRING), payload: opt(STRING) } },
    next: { commit: { ...commitInfo, signature: opt(STRING), payload: opt(STRING) } },
  },
  getBlame: {
    v117: { ref: STRING, path: STRING, commit_sha: STRING, lines: arr(blameLine) },
    next: { ref: STRING, path: STRING, commit_sha: STRING, lines: arr(blameLine) },
  },
  getNote: {
    v117: { sha: STRING, note: STRING, ref_sha: STRING },
    next: { sha: STRING, note: STRING, ref_sha: STRING },
  },
  noteWrite: {
    v117: {
      sha: STRING,
      target_ref: STRING,
      base_commit: opt(STRING),
      new_ref_sha: STRING,
      result: { success: BOOLEAN, status: STRING, message: opt(STRING) },
    },
    next: {
      sha: STRING,
      notes_ref: opt(STRING),
      target_ref: opt(STRING),
      base_commit: opt(STRING),
      new_ref_sha: STRING,
      result: { success: BOOLEAN, status: STRING, message: opt(STRING) },
    },
    aliases: [['notes_ref', 'target_ref']],
  },
  listNotesRefs: {
    v117: { refs: arr({ cursor: STRING, ref: STRING, sha: STRING }), next_cursor: optNull(STRING), has_more: BOOLEAN, prefix: STRING },
    next: { refs: arr({ cursor: STRING, ref: STRING, sha: STRING }), next_cursor: optNull(STRING), has_more: BOOLEAN, prefix: STRING },
  },
  getBranchDiff: {
    v117: {
      branch: STRING,
      base: STRING,
      merge_base_sha: opt(STRING),
      stats: diffStats,
      files: arr(diffFile),
      filtered_files: arr(filteredFile),
    },
    next: { branch: STRING, base: STRING, stats: diffStats, files: arr(diffFile), filtered_files: arr(filteredFile) },
  },
  getCommitDiff: {
    v117: {
      sha: STRING,
      base_sha: opt(STRING),
      merge_base_sha: opt(STRING),
      stats: diffStats,
      files: arr(diffFile),
      filtered_files: arr(filteredFile),
    },
    next: { sha: STRING, base_sha: opt(STRING), stats: diffStats, files: arr(diffFile), filtered_files: arr(filteredFile) },
  },
  grep: {
    v117: {
      query: { pattern: STRING, case_sensitive: BOOLEAN },
      repo: { ref: STRING, commit: STRING },
      matches: arr({ path: STRING, lines: arr({ line_number: NUMBER, text: STRING, type: STRING }) }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
    next: {
      query: { pattern: STRING, case_sensitive: BOOLEAN },
      repo: { ref: STRING, commit: STRING },
      matches: arr({ path: STRING, lines: arr({ line_number: NUMBER, text: STRING, type: STRING }) }),
      next_cursor: optNull(STRING),
      has_more: BOOLEAN,
    },
  },
  createBranch: {
    v117: { message: STRING, target_branch: STRING, target_is_ephemeral: BOOLEAN, commit_sha: optNull(STRING) },
    next: { message: STRING, target_branch: STRING, target_is_ephemeral: BOOLEAN, commit_sha: optNull(STRING) },
  },
  deleteBranch: {
    v117: { name: STRING, message: STRING, ephemeral: opt(BOOLEAN) },
    next: { target_branch: opt(STRING), name: opt(STRING), message: STRING, ephemeral: opt(BOOLEAN) },
    aliases: [['target_branch', 'name']],
  },
  previewMerge: {
    v117: {
      status: oneOf('clean', 'conflicted'),
      result: oneOf('merge_commit', 'fast_forward', 'no_op'),
      source_branch: STRING,
      target_branch: STRING,
      source_tip_sha: STRING,
      target_tip_sha: STRING,
      merge_base_sha: opt(STRING),
      conflict_paths: opt(arr(STRING)),
      conflicts: opt(arr({ path: STRING, result: previewBlob, base: previewBlob, ours: previewBlob, theirs: previewBlob })),
      filtered_conflicts: opt(arr({ path: STRING, reason: STRING })),
    },
    next: {
      status: oneOf('clean', 'conflicted'),
      result: oneOf('merge_commit', 'fast_forward', 'no_op'),
      source_branch: STRING,
      target_branch: STRING,
      source_tip_sha: STRING,
      target_tip_sha: STRING,
      merge_base_sha: opt(STRING),
      conflict_paths: opt(arr(STRING)),
      conflicts: opt(arr({ path: STRING, result: previewBlob, base: previewBlob, ours: previewBlob, theirs: previewBlob })),
      filtered_conflicts: opt(arr({ path: STRING, reason: STRING })),
    },
  },
  merge: {
    v117: {
      result: oneOf('merge_commit', 'fast_forward', 'no_op', 'squash', 'unknown'),
      commit_sha: STRING,
      tree_sha: STRING,
      source: { branch: STRING, ephemeral: BOOLEAN, sha: STRING },
      target: { branch: STRING, ephemeral: BOOLEAN, old_sha: STRING, new_sha: STRING },
      merge_base_sha: opt(STRING),
      promoted_commits: NUMBER,
    },
    next: {
      result: oneOf('merge_commit', 'fast_forward', 'no_op', 'squash', 'unknown'),
      commit_sha: STRING,
      tree_sha: STRING,
      source: { ref: opt(STRING), branch: opt(STRING), ephemeral: BOOLEAN, sha: STRING },
      target: { branch: STRING, ephemeral: BOOLEAN, old_sha: STRING, new_sha: STRING },
      merge_base_sha: opt(STRING),
      promoted_commits: NUMBER,
    },
    aliases: [['source.ref', 'source.branch']],
  },
  createTag: {
    v117: { name: STRING, sha: STRING, message: STRING },
    next: { name: STRING, sha: STRING, message: STRING },
  },
  deleteTag: {
    v117: { name: STRING, message: STRING },
    next: { name: STRING, message: STRING },
  },
  // Successful restore-commit (the ack schema: result.success is literally true).
  restoreCommit: {
    v117: { commit: restoreCommitCommit, result: { branch: STRING, ...refUpdateCommon, success: literal(true) } },
    next: {
      commit: restoreCommitCommit,
      result: { target_branch: opt(STRING), branch: opt(STRING), ...refUpdateCommon, success: literal(true) },
    },
    aliases: [['result.target_branch', 'result.branch']],
  },
  // Successful commit-pack and diff-commit.
  commitPack: {
    v117: { commit: commitPackCommit, result: { branch: STRING, ...refUpdateCommon } },
    next: { commit: commitPackCommit, result: { target_branch: opt(STRING), branch: opt(STRING), ...refUpdateCommon } },
    aliases: [['result.target_branch', 'result.branch']],
  },
  // A failed ref update (commit-pack, diff-commit, restore-commit non-2xx body).
  refUpdateFailure: {
    v117: {
      commit: optNull({
        commit_sha: opt(STRING),
        tree_sha: opt(STRING),
        target_branch: opt(STRING),
        pack_bytes: opt(NUMBER),
        blob_count: opt(NUMBER),
      }),
      result: {
        branch: opt(STRING),
        old_sha: opt(STRING),
        new_sha: opt(STRING),
        success: opt(BOOLEAN),
        status: STRING,
        message: opt(STRING),
      },
    },
    next: {
      commit: optNull({
        commit_sha: opt(STRING),
        tree_sha: opt(STRING),
        target_branch: opt(STRING),
        pack_bytes: opt(NUMBER),
        blob_count: opt(NUMBER),
      }),
      result: {
        target_branch: opt(STRING),
        branch: opt(STRING),
        old_sha: opt(STRING),
        new_sha: opt(STRING),
        success: opt(BOOLEAN),
        status: STRING,
        message: opt(STRING),
      },
    },
    // Only when the server names the branch at all.
    optionalAliases: [['result.target_branch', 'result.branch']],
  },
  errorEnvelope: {
    v117: { error: STRING },
    next: { error: STRING },
  },
};

/**
 * Problems of `body` against operation `op`, as a list of strings, each
 * prefixed with the tier that requires the field.
 */
export function shapeProblems(op, body) {
  const shape = SHAPES[op];
  if (!shape) throw new Error(`unknown operation ${op}`);
  const problems = [];
  for (const tier of ['v117', 'next', 'documented']) {
    if (!shape[tier]) continue;
    const out = [];
    check(body, shape[tier], '', out);
    for (const p of out) problems.push(`[${tier === 'v117' ? '1.17.1' : tier === 'next' ? 'newest SDK' : 'SKILL.md'}] ${p}`);
  }
  for (const [a, b] of shape.aliases ?? []) {
    const as = valuesAt(body, a);
    const bs = valuesAt(body, b);
    for (let i = 0; i < Math.max(as.length, bs.length); i++) {
      const va = as[i]?.value;
      const vb = bs[i]?.value;
      if (va === undefined || vb === undefined) {
        problems.push(`[alias] ${as[i]?.where ?? a} and ${bs[i]?.where ?? b} must both be sent (got ${JSON.stringify(va)} / ${JSON.stringify(vb)})`);
      } else if (va !== vb) {
        problems.push(`[alias] ${as[i].where}=${JSON.stringify(va)} differs from ${bs[i].where}=${JSON.stringify(vb)}`);
      }
    }
  }
  for (const [a, b] of shape.optionalAliases ?? []) {
    const va = valuesAt(body, a)[0]?.value;
    const vb = valuesAt(body, b)[0]?.value;
    if ((va === undefined) !== (vb === undefined) || (va !== undefined && va !== vb)) {
      problems.push(`[alias] ${a}=${JSON.stringify(va)} and ${b}=${JSON.stringify(vb)} must be sent together and agree`);
    }
  }
  return problems;
}

/** Fails unless `body` satisfies both SDK generations for `op`. */
export function assertShape(op, body, label = op) {
  const problems = shapeProblems(op, body);
  assert.deepEqual(
    problems,
    [],
    `${label}: response does not satisfy both SDK generations:\n  ${problems.join('\n  ')}\nbody: ${JSON.stringify(body)?.slice(0, 1500)}`,
  );
}
