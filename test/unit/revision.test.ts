import { describe, expect, it } from 'vitest';
import { REFUND_WORKFLOW_REVISION, revisionOf } from '../../workflows/revision';

describe('the revision a refund runs under', () => {
  it('is the one its pinned answer names', () => {
    expect(revisionOf({ revision: 2 })).toBe(2);
    expect(revisionOf({ revision: REFUND_WORKFLOW_REVISION })).toBe(REFUND_WORKFLOW_REVISION);
  });

  it('is 1 for an answer recorded before revisions were pinned, or one that names none that could be', () => {
    expect(revisionOf({})).toBe(1);
    expect(revisionOf({ revision: undefined })).toBe(1);
    expect(revisionOf({ revision: '2' })).toBe(1);
    expect(revisionOf({ revision: 0 })).toBe(1);
    expect(revisionOf({ revision: 1.5 })).toBe(1);
  });
});
