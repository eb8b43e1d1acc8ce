/**
 * Turns Ajv's list of schema errors (Fastify validates with allErrors) into one message
 * that names every bad field once, in request order, and says what each accepts. Pure.
 * Ajv reports a TypeBox union of literals as one `const` error per member plus an
 * `anyOf` error: those become "must be one of: "live", "import"" instead of "must be
 * equal to constant".
 */
export interface SchemaError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

export interface FieldProblem {
  field: string;
  message: string;
}

/** The field an error is about: `body.kind`, `querystring.limit`, `body.name` for a missing one. */
function fieldOf(context: string, e: SchemaError): string {
  let path = `${context}${e.instancePath.replaceAll('/', '.')}`;
  if (typeof e.params.missingProperty === 'string') path += `.${e.params.missingProperty}`;
  if (typeof e.params.additionalProperty === 'string') path += `.${e.params.additionalProperty}`;
  return path;
}

function oneMessage(e: SchemaError): string {
  switch (e.keyword) {
    case 'enum':
      return `must be one of: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return 'is not a field of this request';
    default:
      return e.message ?? e.keyword;
  }
}

/** Every bad field once, with what it must be. */
export function fieldProblems(context: string, errors: readonly SchemaError[]): FieldProblem[] {
  const groups = new Map<string, SchemaError[]>();
  for (const e of errors) {
    const field = fieldOf(context, e);
    const list = groups.get(field);
    if (list) list.push(e);
    else groups.set(field, [e]);
  }
  const problems: FieldProblem[] = [];
  for (const [field, list] of groups) {
    const union = list.find((e) => e.keyword === 'anyOf');
    // the members' own errors of that union (their schemaPath goes through it)
    const members = union ? list.filter((e) => e !== union && e.schemaPath.startsWith(`${union.schemaPath}/`)) : [];
    const rest = list.filter((e) => e !== union && !members.includes(e));
    const parts: string[] = [];
    if (union) {
      if (members.length > 0 && members.every((e) => e.keyword === 'const')) {
        parts.push(`must be one of: ${members.map((e) => JSON.stringify(e.params.allowedValue)).join(', ')}`);
      } else if (members.length > 0) {
        parts.push([...new Set(members.map(oneMessage))].join(', or '));
      } else {
        parts.push(oneMessage(union));
      }
    }
    for (const m of new Set(rest.map(oneMessage))) parts.push(m);
    problems.push({ field, message: parts.join('; ') });
  }
  return problems;
}

/** "body.name: is required; body.kind: must be one of: "live", "import"". */
export function validationMessage(problems: readonly FieldProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}
