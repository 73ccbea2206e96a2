import { draw } from './rooms.ts';
import { BIG_INTEGER_EVERY_ROOMS, LARGE_MESSAGE_EVERY_ROOMS, LARGE_MESSAGE_REPEAT, MEMORY_FAULT_RATES } from './shape.ts';

/**
 * `memories.content` as SQL: one template per AI SDK era (S0–S5 of message-shapes.md) and role, plus the
 * faults. Runs over rows with `r` (the room plan), `k` (1-based memory number in the room) and `h.hm`
 * (the memory's md5 hex, its source of draws).
 */

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
const textArray = (values: readonly string[]) => `array[${values.map(quote).join(',')}]`;
const pick = (values: readonly string[], drawSql: string) => `(${textArray(values)})[1 + floor(${drawSql} * ${values.length})::int]`;

const USER_TEXTS = [
  'Who are my top fans on TikTok this month?',
  'Draft a pitch email to playlist curators for the new single.',
  'What should I post this week to grow my Instagram?',
  'Compare my Spotify listeners to last quarter.',
  'Find venues for a 300-capacity show in Austin.',
  'Make a segment of fans who bought merch.',
  'Summarize the comments on my last video.',
];
const ASSISTANT_TEXTS = [
  'Your top fans are concentrated in Los Angeles and São Paulo; 62% engage with short videos.',
  'Here is a draft pitch: a warm intro, the story behind the single, and two comparable artists.',
  'Post a behind-the-scenes clip on Tuesday and a fan Q&A on Friday; both beat your average reach.',
  'Monthly listeners grew 18% quarter over quarter, driven by two editorial playlists.',
  'Three venues fit: The Parish, Mohawk (indoor) and Antone’s, all free in the second week of June.',
  'I created the segment "Merch buyers" with 1,204 fans.',
  'Most comments ask about tour dates; sentiment is 91% positive.',
];
const TOOL_NAMES = ['get_spotify_artist', 'get_artist_socials', 'search_web', 'create_segments', 'get_fan_segments', 'send_email', 'generate_image'];
const MCP_TOOLS = ['mcp__spotify__search', 'mcp__gmail__send', 'mcp__notion__create_page'];
const REASONING_TEXTS = ['The user wants numbers first, then advice.', 'I should look the artist up before answering.', 'Check the socials, then summarize.'];
// A 1×1 PNG: the raw base64 v4 file parts carried (no data: prefix).
const PNG_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
// The smallest integer a JS number cannot hold exactly (2^53 + 1).
const BEYOND_DOUBLE = '9007199254740993';

/** The per-memory pieces every template draws on, as a lateral subquery over r, k and h.hm. */
export function memoryPiecesSql(): string {
  const [v0, v1, v2, v3] = [0, 1, 2, 3].map((i) => draw('h.hm', i)) as [string, string, string, string];
  return `select ${v0} as v0, ${v1} as v1, ${v2} as v2, ${v3} as v3,
      ${pick(USER_TEXTS, v3)} as ut,
      ${pick(ASSISTANT_TEXTS, v3)} as at,
      ${pick(REASONING_TEXTS, v1)} as rt,
      ${pick(TOOL_NAMES, `(${v3} * 7919 - floor(${v3} * 7919))`)} as tn,
      ${pick(MCP_TOOLS, v3)} as mcp,
      'toolu_' || substr(h.hm, 9, 20) as cid,
      'msg-' || substr(h.hm, 1, 16) as legacy_id,
      'Er' || substr(h.hm, 5, 24) || '==' as sig,
      to_char(r.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as created,
      r.n % ${BIG_INTEGER_EVERY_ROOMS} = 11 and k = 2 as big_integer,
      r.n % ${LARGE_MESSAGE_EVERY_ROOMS} = 7 and k = 2 as large,
      jsonb_build_object('artist_account_id', 'a-' || (r.n % 500), 'limit', 20)
        || case when r.n % ${BIG_INTEGER_EVERY_ROOMS} = 11 and k = 2
                then jsonb_build_object('spotify_track_id', ${BEYOND_DOUBLE}::numeric + r.n) else '{}'::jsonb end as args,
      jsonb_build_object('followers', floor(${v3} * 2000000)::int, 'status', 'ok') as res`;
}

/** A v4 tool invocation; 94% finished, the rest interrupted mid-call. */
const V4_INVOCATION = `jsonb_build_object('state', case when x.v2 < 0.94 then 'result' when x.v2 < 0.98 then 'call' else 'partial-call' end,
    'step', 0, 'toolCallId', x.cid, 'toolName', x.tn, 'args', x.args)
  || case when x.v2 < 0.94 then jsonb_build_object('result', x.res) else '{}'::jsonb end`;
const V4_TOOL_PART = `jsonb_build_object('type', 'tool-invocation', 'toolInvocation', ${V4_INVOCATION})`;
const V4_REASONING_PART = `jsonb_build_object('type', 'reasoning', 'reasoning', x.rt, 'details', jsonb_build_array(
    jsonb_build_object('type', 'text', 'text', x.rt, 'signature', x.sig))
  || case when x.v1 > 0.9 then jsonb_build_array(jsonb_build_object('type', 'redacted', 'data', 'EmwK' || substr(h.hm, 1, 20))) else '[]'::jsonb end)`;
const TEXT_PART = (text: string) => `jsonb_build_object('type', 'text', 'text', ${text})`;
const STEP_START = `'{"type":"step-start"}'::jsonb`;

/** v5/v6 tool part `tool-<name>` (or dynamic-tool), its state drawn from v2; approvals only in v6. */
function toolPartV6(withApprovals: boolean, dynamic: string): string {
  const head = `case when ${dynamic} then jsonb_build_object('type', 'dynamic-tool', 'toolName', x.mcp) else jsonb_build_object('type', 'tool-' || x.tn) end
    || jsonb_build_object('toolCallId', x.cid, 'input', x.args)`;
  const approvals = withApprovals
    ? `when x.v2 < 0.95 then jsonb_build_object('state', 'approval-requested', 'approval', jsonb_build_object('id', 'appr_' || substr(h.hm, 1, 8)))
       when x.v2 < 0.975 then jsonb_build_object('state', 'approval-responded', 'approval', jsonb_build_object('id', 'appr_' || substr(h.hm, 1, 8), 'approved', true))
       else jsonb_build_object('state', 'output-denied', 'approval', jsonb_build_object('id', 'appr_' || substr(h.hm, 1, 8), 'approved', false, 'reason', 'not now'))`
    : '';
  const states = withApprovals
    ? `when x.v2 < 0.9 then jsonb_build_object('state', 'input-available')
       when x.v2 < 0.92 then jsonb_build_object('state', 'input-streaming')
       ${approvals}`
    : `when x.v2 < 0.93 then jsonb_build_object('state', 'input-available')
       else jsonb_build_object('state', 'input-streaming')`;
  return `${head} || case
      when x.v2 < 0.8 or x.big_integer then jsonb_build_object('state', 'output-available', 'output', x.res)
      when x.v2 < 0.86 then jsonb_build_object('state', 'output-error', 'errorText', 'The Spotify API timed out')
      ${states} end`;
}

const ROLE = `case when k % 2 = 1 then 'user' else 'assistant' end`;
// Whether a memory takes its era's tool-carrying variant: the big-integer memories always do.
const TOOLS = (share: number) => `(x.v1 < ${share} or x.big_integer)`;

const S0 = `jsonb_build_object('role', ${ROLE}, 'content', case when k % 2 = 1 then x.ut else x.at end)`;
const S1_USER = `jsonb_build_object('role', 'user', 'content', x.ut, 'id', x.legacy_id, 'createdAt', x.created)
  || case when x.v1 < 0.5 then '{}'::jsonb else jsonb_build_object('parts', jsonb_build_array(${TEXT_PART('x.ut')})) end`;
const S1_ASSISTANT = `case
  when ${TOOLS(0.35)} then jsonb_build_object('id', x.legacy_id, 'role', 'assistant', 'createdAt', x.created, 'content', x.at,
    'reasoning', x.rt, 'toolInvocations', jsonb_build_array(${V4_INVOCATION}))
  when x.v1 < 0.6 then jsonb_build_object('id', x.legacy_id, 'role', 'assistant', 'createdAt', x.created, 'content', x.at)
  when x.v1 < 0.8 then jsonb_build_object('role', 'assistant', 'content', x.at, 'parts', jsonb_build_array(${TEXT_PART('x.at')}),
    'annotations', jsonb_build_array(jsonb_build_object('type', 'model', 'id', 'claude-3-7-sonnet')), 'revisionId', substr(h.hm, 20, 10))
  else jsonb_build_object('role', 'assistant', 'content', x.at, 'parts', jsonb_build_array(${STEP_START},
    jsonb_build_object('type', 'reasoning', 'reasoning', x.rt), ${TEXT_PART('x.at')})) end`;
const S3_USER = `jsonb_build_object('role', 'user', 'content', x.ut, 'parts', jsonb_build_array(${TEXT_PART('x.ut')}))
  || case when x.v1 < 0.2 and r.era = 3 then jsonb_build_object('experimental_attachments', jsonb_build_array(
       jsonb_build_object('name', 'cover.png', 'contentType', 'image/png', 'url', 'https://files.recoupable.com/u/' || substr(h.hm, 1, 12) || '.png'),
       jsonb_build_object('name', 'press-kit.pdf', 'url', 'https://files.recoupable.com/u/' || substr(h.hm, 13, 12) || '.pdf')))
     else '{}'::jsonb end`;
const S2_ASSISTANT = `jsonb_build_object('role', 'assistant', 'id', x.legacy_id, 'createdAt', x.created, 'content', x.at, 'reasoning', x.rt,
  'toolInvocations', jsonb_build_array(${V4_INVOCATION}),
  'parts', jsonb_build_array(${STEP_START}, ${V4_REASONING_PART}, ${V4_TOOL_PART}, ${STEP_START}, ${TEXT_PART('x.at')}))`;
const S3_ASSISTANT = `case
  when ${TOOLS(0.5)} then jsonb_build_object('role', 'assistant', 'content', x.at, 'parts', jsonb_build_array(${STEP_START}, ${TEXT_PART('x.at')}, ${V4_TOOL_PART},
    jsonb_build_object('type', 'source', 'source', jsonb_build_object('sourceType', 'url', 'id', 'src-' || substr(h.hm, 1, 8),
      'url', 'https://open.spotify.com/artist/' || substr(h.hm, 1, 22), 'title', 'Spotify'))))
  when x.v1 < 0.7 then jsonb_build_object('role', 'assistant', 'content', x.at, 'parts', jsonb_build_array(
    jsonb_build_object('type', 'file', 'mimeType', 'image/png', 'data', '${PNG_BASE64}'), ${TEXT_PART('x.at')}))
  else jsonb_build_object('role', 'assistant', 'content', x.at, 'parts', jsonb_build_array(${V4_REASONING_PART}, ${TEXT_PART('x.at')})) end`;
const S4_USER = `jsonb_build_object('role', 'user', 'content', '[object Object]', 'parts', jsonb_build_array(${TEXT_PART('x.ut')})
  || case when x.v1 < 0.1 then jsonb_build_array(jsonb_build_object('type', 'file', 'mediaType', 'image/jpeg',
       'url', 'https://files.recoupable.com/u/' || substr(h.hm, 1, 12) || '.jpg')) else '[]'::jsonb end)`;
const REASONING_V5 = `jsonb_build_object('type', 'reasoning', 'text', x.rt, 'providerMetadata', jsonb_build_object('anthropic', jsonb_build_object('signature', x.sig)))`;
const S4_ASSISTANT = `jsonb_build_object('role', 'assistant', 'content', '[object Object],[object Object],[object Object]', 'parts',
  jsonb_build_array(${STEP_START}, ${REASONING_V5})
  || case when ${TOOLS(0.7)} then jsonb_build_array(${toolPartV6(false, 'x.v1 < 0.2')}) else '[]'::jsonb end
  || jsonb_build_array(jsonb_build_object('type', 'text', 'text', x.at, 'state', case when x.v3 < 0.05 then 'streaming' else 'done' end)))`;
const S5_USER = `jsonb_build_object('role', 'user', 'content', x.ut, 'parts', jsonb_build_array(${TEXT_PART('x.ut')})
  || case when x.v1 < 0.05 then jsonb_build_array(jsonb_build_object('type', 'file', 'mediaType', 'image/png', 'filename', 'chart.png',
       'url', 'data:image/png;base64,${PNG_BASE64}')) else '[]'::jsonb end)`;
const S5_ASSISTANT = `jsonb_build_object('role', 'assistant', 'content', x.at, 'parts',
  jsonb_build_array(${STEP_START}, ${REASONING_V5})
  || case when ${TOOLS(0.7)} then jsonb_build_array(${toolPartV6(true, 'x.v1 < 0.15')}) else '[]'::jsonb end
  || case when x.v3 > 0.9 then jsonb_build_array(
       jsonb_build_object('type', 'source-url', 'sourceId', 's_' || substr(h.hm, 1, 6), 'url', 'https://open.spotify.com/artist/' || substr(h.hm, 1, 22)),
       jsonb_build_object('type', 'data-chart', 'id', 'chart-' || substr(h.hm, 1, 6), 'data', jsonb_build_object('series', jsonb_build_array(1, 2, 3))))
     else '[]'::jsonb end
  || jsonb_build_array(${TEXT_PART('x.at')}))`;

const MALFORMED = `case floor(x.v3 * 7)::int
  when 0 then to_jsonb(x.ut)
  when 1 then jsonb_build_array(x.ut)
  when 2 then to_jsonb(42)
  when 3 then 'null'::jsonb
  when 4 then jsonb_build_object('content', x.ut)
  when 5 then jsonb_build_object('role', 'user', 'parts', jsonb_build_array(jsonb_build_object('text', x.ut)))
  else to_jsonb(jsonb_build_object('role', 'user', 'content', x.ut)::text) end`;
const UNSUPPORTED_ROLE = `jsonb_build_object('role', ${pick(['system', 'data', 'tool'], 'x.v3')}, 'content', x.at)`;
const EMPTY = `case when x.v3 < 0.5 then jsonb_build_object('role', 'assistant', 'content', '', 'parts', jsonb_build_array(${STEP_START}))
  else jsonb_build_object('role', 'user', 'content', '   ', 'parts', jsonb_build_array(${TEXT_PART("'   '")})) end`;
const LARGE = `jsonb_build_object('role', 'assistant', 'content', repeat(x.at || ' ', ${LARGE_MESSAGE_REPEAT}),
  'parts', jsonb_build_array(${TEXT_PART(`repeat(x.at || ' ', ${LARGE_MESSAGE_REPEAT})`)}))`;

/** The content expression: faults first, then the room's era and the memory's role. */
export function memoryContentSql(): string {
  const faults = MEMORY_FAULT_RATES;
  return `case
    when x.large then ${LARGE}
    when x.v0 < ${faults.malformed} then ${MALFORMED}
    when x.v0 < ${faults.malformed + faults.unsupportedRole} then ${UNSUPPORTED_ROLE}
    when x.v0 < ${faults.malformed + faults.unsupportedRole + faults.empty} then ${EMPTY}
    when r.era = 0 and not x.big_integer then ${S0}
    when k % 2 = 1 then case when r.era <= 1 then ${S1_USER} when r.era <= 3 then ${S3_USER} when r.era = 4 then ${S4_USER} else ${S5_USER} end
    else case when r.era <= 1 then ${S1_ASSISTANT} when r.era = 2 then ${S2_ASSISTANT} when r.era = 3 then ${S3_ASSISTANT}
              when r.era = 4 then ${S4_ASSISTANT} else ${S5_ASSISTANT} end
  end`;
}
