import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { AUDIT_FILE, Container, silentLogger, type AuditEvent } from '../src/index.js';
import { AuditTrail } from '../src/audit.js';
import { RecordingSyscalls } from '../src/testing/index.js';

function container(stateDir: string, listeners: ((event: AuditEvent) => void)[]): Container {
  const result = new Container('audited', { ociVersion: '1.2.0' }, '/', stateDir, new RecordingSyscalls(), silentLogger);
  result.auditTrail = new AuditTrail(listeners);
  return result;
}

test('audit event goes to listeners and the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen: AuditEvent[] = [];
  const subject = container(dir, [(event) => seen.push(event)]);
  subject.auditTrail.open(dir);
  subject.audit({ plugin: 'p', decision: 'deny', action: 'mount.reject', field: 'mounts[0]', detail: { rule: 'r' } });
  subject.audit({ plugin: 'p', decision: 'change', action: 'limit.set' });
  t.is(seen.length, 2);
  t.like(seen[0], { container: 'audited', plugin: 'p', decision: 'deny', action: 'mount.reject', field: 'mounts[0]', detail: { rule: 'r' } });
  t.regex(seen[0]!.time, /^\d{4}-\d\d-\d\dT/);
  const lines = readFileSync(join(dir, AUDIT_FILE), 'utf8').split('\n');
  t.deepEqual(lines.slice(0, 2).map((line) => JSON.parse(line) as AuditEvent), seen);
  t.is(lines[2], '');
});

test('audit before open reaches listeners only', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen: AuditEvent[] = [];
  container(dir, [(event) => seen.push(event)]).audit({ plugin: 'p', decision: 'change', action: 'x' });
  t.is(seen.length, 1);
  t.throws(() => readFileSync(join(dir, AUDIT_FILE)), { code: 'ENOENT' });
});
