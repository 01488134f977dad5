// Validate workflow files with @actions/workflow-parser, as GitHub parses them: unknown keys, bad
// `${{ }}` expressions, wrong types, with line and column. Usage (see run.sh): node --import ./register.mjs check.mjs FILE...
import { readFileSync } from "node:fs";
import { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } from "@actions/workflow-parser";
let failed = 0;
for (const name of process.argv.slice(2)) {
  const content = readFileSync(name, "utf8");
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const errors = [...parsed.context.errors.getErrors()];
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    errors.push(...(template.errors || []).map((e) => ({ message: e.Message || e.message })));
  }
  for (const e of errors) console.log(`${name}: ${e.message || e.Message}`);
  failed += errors.length;
  if (!errors.length) console.log(`${name}: ok`);
}
process.exit(failed ? 1 : 0);
