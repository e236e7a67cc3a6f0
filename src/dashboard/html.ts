// HTML that cannot be injected into: every value interpolated into a `markup` template is escaped
// unless it is itself `Html` built the same way, so a backend id, a user name or a down reason
// from a hostile server shows as text and never as markup. (The tag is not named `html`:
// formatters rewrite templates so tagged, and the page's text would change with them.)
const HTML = Symbol('html');

export interface Html {
  readonly [HTML]: string;
}

/** A value a template accepts: text (escaped), numbers, nested Html, lists of them, or nothing. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => ESCAPES[char] ?? char);
}

function isHtml(value: unknown): value is Html {
  return typeof value === 'object' && value !== null && HTML in value;
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (isHtml(value)) return value[HTML];
  if (typeof value === 'object')
    // Any other object is not markup, whatever its toString says.
    return Array.isArray(value)
      ? value.map(render).join('')
      : escapeHtml(Object.prototype.toString.call(value));
  return escapeHtml(String(value));
}

/** Tagged template: `markup\`<td>${name}</td>\`` escapes `name`. */
export function markup(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return { [HTML]: out };
}

/** Markup written in this codebase (a stylesheet, a script), never anything a request or peer sent. */
export function trusted(text: string): Html {
  return { [HTML]: text };
}

export function toText(fragment: Html): string {
  return fragment[HTML];
}
