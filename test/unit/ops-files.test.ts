// The alert rules and the dashboard name only series sanscode exports: a metric renamed in
// core/metrics.ts cannot leave an alert silently watching nothing. (promtool checks the
// PromQL itself: `promtool check rules ops/prometheus/alerts.yml` and
// `promtool test rules ops/prometheus/alerts.test.yml`.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../core/metrics.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Series names a text refers to, histogram suffixes folded onto their metric. */
function referenced(text: string): Set<string> {
  return new Set([...text.matchAll(/\bsanscode_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
}

describe('ops files', () => {
  const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));

  it('the dashboard is JSON whose every query names an exported metric', () => {
    const dashboard = JSON.parse(read('ops/grafana/sanscode.json')) as { panels: { targets?: { expr: string }[] }[] };
    const queries = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(queries.length).toBeGreaterThan(10);
    for (const name of referenced(queries.join('\n'))) expect(exported, name).toContain(name);
  });

  it('the alert rules name exported metrics only, and cover the conditions that cost money', () => {
    const rules = read('ops/prometheus/alerts.yml');
    for (const name of referenced(rules)) expect(exported, name).toContain(name);
    for (const alert of ['SanscodeAriDisconnected', 'SanscodeRefusalsAboveNormal', 'SanscodeWebhookBacklogOld', 'SanscodePoolExhausted', 'SanscodeLostCalls']) {
      expect(rules).toContain(`alert: ${alert}`);
    }
  });
});
