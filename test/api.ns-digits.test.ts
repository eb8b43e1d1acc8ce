/**
 * Nanosecond values too large for 64 bits are a 400 naming the field, never a 500:
 * query parameters, session fields and completion fields alike (SQLite stores int64;
 * binding a larger BigInt threw a RangeError the error handler reported as a bug).
 * Completion records keep their own code (ACKSCOPE_ERR_COMPLETION_INVALID).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from './helpers/app.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

const HUGE = '99999999999999999999'; // 20 digits, > 2^63
const JUST_OVER = '9223372036854775808'; // 2^63

test('ns values beyond int64 get 400 ACKSCOPE_ERR_VALIDATION naming the field', async () => {
  const t = await testApp();
  try {
    const app = t.app;
    const expect400 = async (what: string, res: { statusCode: number; body: string; json: () => any }, field: RegExp, code = 'ACKSCOPE_ERR_VALIDATION') => {
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
      assert.equal(res.json().error.code, code, what);
      assert.match(res.json().error.message, field, what);
    };
    for (const value of [HUGE, JUST_OVER]) {
      for (const field of ['clockUncertaintyNs', 'nearMarginNs']) {
        const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import', [field]: value } });
        await expect400(`session ${field}=${value}`, res, new RegExp(field));
      }
    }
    const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'x', kind: 'import' } })).json().id;
    for (const value of [HUGE, JUST_OVER]) {
      for (const q of ['fromNs', 'toNs']) {
        await expect400(`completions ?${q}`, await app.inject({ url: `/sessions/${id}/completions?${q}=${value}` }), new RegExp(q));
      }
      for (const q of ['from', 'to']) {
        await expect400(`correlations ?${q}`, await app.inject({ url: `/sessions/${id}/correlations?${q}=${value}` }), new RegExp(q));
      }
      for (const field of ['submittedNs', 'completedNs']) {
        const rec = completionRecord({ writeId: 0, srcPort: 40000, writeBytes: 10, submittedNs: BASE_NS, takesNs: 10n }, { [field]: value });
        if (field === 'submittedNs') rec.completedNs = value; // completed ≥ submitted, so only the size is wrong
        await expect400(
          `completion ${field}`,
          await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [rec] }),
          new RegExp(field),
          'ACKSCOPE_ERR_COMPLETION_INVALID',
        );
        await expect400(
          `completion ${field} (NDJSON)`,
          await app.inject({
            method: 'POST',
            url: `/sessions/${id}/completions`,
            payload: JSON.stringify(rec) + '\n',
            headers: { 'content-type': 'application/x-ndjson' },
          }),
          new RegExp(field),
          'ACKSCOPE_ERR_COMPLETION_INVALID',
        );
      }
    }
    // numbers past 2^53 cannot be exact: refused as well
    const res = await app.inject({
      method: 'POST',
      url: '/sessions',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"x","kind":"import","nearMarginNs":100000000000000000000}',
    });
    await expect400('session nearMarginNs as a number past 2^53', res, /nearMarginNs/);
  } finally {
    await t.close();
  }
});
