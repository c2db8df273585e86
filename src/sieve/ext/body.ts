/**
 * body (RFC 5173): `body [COMPARATOR] [MATCH-TYPE] [BODY-TRANSFORM] <key-list>` with the
 * transforms :raw, :content <types> and :text (the default, §5). The text comes from
 * SieveMessage.bodyTexts (decoded transfer encoding and charset, first MAX_BODY_BYTES).
 */
import type { MatchSpec } from '../match.js';
import type { BodyTransform } from '../message.js';
import type { Extension } from '../types.js';
import { evalMatch, MATCH_AND_COMPARATOR, validateMatch } from './common.js';

export const bodyExtension: Extension = {
  name: 'body',
  tests: [
    {
      kind: 'test',
      name: 'body',
      requires: 'body',
      tags: [
        ...MATCH_AND_COMPARATOR,
        { name: 'raw', group: 'transform' },
        { name: 'content', param: 'stringList', group: 'transform' },
        { name: 'text', group: 'transform' },
      ],
      positional: [{ name: 'key list', kind: 'stringList' }],
      validate(node, v) {
        node.data = validateMatch(node, v);
      },
      evaluate(node, it) {
        const which = node.groups.get('transform') ?? 'text';
        const t: BodyTransform = which === 'content' ? { kind: 'content', types: it.tagList(node, 'content') ?? [] } : which === 'raw' ? { kind: 'raw' } : { kind: 'text' };
        const texts = it.env.message.bodyTexts(t);
        it.budget.charge(texts.reduce((n, s) => n + s.length, 0));
        return evalMatch(it, node.data as MatchSpec, texts, it.list(node, 0));
      },
    },
  ],
};
