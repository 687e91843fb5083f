// Validates an AsyncAPI document with the official parser (@asyncapi/parser): the schema of the
// AsyncAPI spec itself, every $ref (the payloads point at docs/schema/), and its ruleset.
// Usage: node validate.mjs FILE [--expect-invalid]. Exit 0 when the outcome is the expected one.
import { Parser, fromFile } from '@asyncapi/parser';

const [file, mode] = process.argv.slice(2);
const expectInvalid = mode === '--expect-invalid';
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, file).parse();
// Severity 0 is an error; 1 a warning, 2 information, 3 a hint.
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const where = d.path && d.path.length ? ` at /${d.path.join('/')}` : '';
  const level = ['error', 'warning', 'info', 'hint'][d.severity] ?? 'note';
  if (!expectInvalid || d.severity === 0) console.log(`${file}: ${level}: ${d.code}: ${d.message}${where}`);
}
const valid = document !== undefined && errors.length === 0;
if (expectInvalid) {
  if (valid) {
    console.error(`${file}: expected the validator to refuse this document, it accepted it`);
    process.exit(1);
  }
  console.log(`${file}: refused as expected (${errors.length} errors)`);
  process.exit(0);
}
if (!valid) {
  console.error(`${file}: INVALID (${errors.length} errors)`);
  process.exit(1);
}
const messages = document.allMessages().length;
const channels = document.allChannels().length;
console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${messages} messages)`);
