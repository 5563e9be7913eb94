// The loan officer's page. Everything it knows about applications comes from
// the API: fields, vocabularies, ranges and the course example from the
// OpenAPI document (/docs.json, open without a key unless CREDIT_RISK_PROTECT_DOCS), the model and its
// training ranges from /model, decisions from /classify and /classify_batch.

const API = new URL("../", document.baseURI); // the service root, wherever it is mounted
const KEY_STORAGE = "credit-risk.api-key";
const NOT_DECLARED = "not declared";

const STATUS_TEXT = {
  APPROVED: "Approved: the risk of default is low.",
  MAYBE: "Refer to a loan officer: the risk of default is moderate.",
  DECLINED: "Declined: the risk of default is high.",
};

const $ = (id) => document.getElementById(id);
const numberFormat = new Intl.NumberFormat("en");
const percentFormat = new Intl.NumberFormat("en", {
  style: "percent",
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

const state = {
  fields: [], // [{name, title, description, kind, integer, nullable, enum, range}]
  example: {},
  batchLimit: 1000,
  card: null, // the /model answer, once the key (if any) lets us read it
  results: null, // {columns, rows} of the last batch
  sort: { column: null, ascending: true },
};

// --- The API -----------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `The service answered HTTP ${status}.`);
    this.status = status;
    this.detail = (body && Array.isArray(body.detail) && body.detail) || [];
  }
}

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

async function call(path, { body, method = "POST" } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch(new URL(path, API), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { error: `The service cannot be reached (${error.message}).` });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { error: text.slice(0, 200) };
  }
  if (!response.ok) {
    if (response.status === 401) askForKey(Boolean(key));
    throw new ApiError(response.status, parsed);
  }
  return parsed;
}

// --- The API key -------------------------------------------------------------

function askForKey(keyWasSent) {
  const status = $("key-status");
  status.textContent = keyWasSent
    ? "The API key is not valid: enter it again."
    : "This service needs an API key: enter it above.";
  status.classList.add("is-error");
  $("api-key").setAttribute("aria-invalid", "true");
  $("api-key").focus();
}

function setupKey() {
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    $("api-key").value = "";
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    showKeyState(key ? "Key kept for this tab." : "No key: requests go without one.");
    await loadCard();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    showKeyState("Key forgotten.");
  });
  showKeyState(apiKey() ? "A key is kept for this tab." : "");
}

function showKeyState(message) {
  const status = $("key-status");
  status.textContent = message;
  status.classList.remove("is-error");
  $("api-key").removeAttribute("aria-invalid");
  $("api-key").placeholder = apiKey() ? "•••••••• (kept for this tab)" : "";
}

// --- The fields, from the OpenAPI document ----------------------------------

function resolve(schema, doc) {
  const ref = schema && schema.$ref;
  if (!ref) return schema;
  return ref
    .replace(/^#\//, "")
    .split("/")
    .reduce((node, part) => node[part], doc);
}

function describeField(name, schema) {
  const branches = schema.anyOf || [schema];
  const value = branches.find((branch) => branch.type !== "null") || {};
  const nullable = branches.some((branch) => branch.type === "null");
  const field = {
    name,
    title: schema.title || name,
    description: schema.description || "",
    nullable,
    enum: value.enum || null,
    kind: value.enum ? "category" : "number",
    integer: value.type === "integer",
    range: {
      min: value.minimum,
      exclusiveMin: value.exclusiveMinimum,
      max: value.maximum,
      exclusiveMax: value.exclusiveMaximum,
    },
  };
  return field;
}

async function loadSchema() {
  const doc = await call("docs.json", { method: "GET" });
  const classify = doc.paths["/classify"].post;
  const media = classify.requestBody.content["application/json"];
  const application = resolve(media.schema, doc);
  state.fields = Object.entries(application.properties).map(([name, schema]) =>
    describeField(name, resolve(schema, doc)),
  );
  state.example = application.example || {};
  const batchPath = doc.paths["/classify_batch"];
  if (batchPath) {
    const batch = resolve(batchPath.post.requestBody.content["application/json"].schema, doc);
    const list = resolve(batch.properties.applications, doc);
    if (Number.isInteger(list.maxItems)) state.batchLimit = list.maxItems;
  }
}

function rangeText(field) {
  const { min, exclusiveMin, max, exclusiveMax } = field.range;
  const low =
    min !== undefined
      ? numberFormat.format(min)
      : exclusiveMin !== undefined && `above ${numberFormat.format(exclusiveMin)}`;
  const high =
    max !== undefined
      ? numberFormat.format(max)
      : exclusiveMax !== undefined && `below ${numberFormat.format(exclusiveMax)}`;
  let text = low && high ? `Allowed: ${low} to ${high}.` : "";
  if (low && !high) text = `Allowed: ${min !== undefined ? `at least ${low}` : low}.`;
  if (high && !low) text = `Allowed: ${max !== undefined ? `at most ${high}` : high}.`;
  const trained = state.card && state.card.training_ranges[field.name];
  if (trained) {
    text += ` Training data: ${numberFormat.format(trained[0])} to ${numberFormat.format(trained[1])}.`;
  }
  return text.trim();
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children);
  return node;
}

function buildForm() {
  const container = $("fields");
  container.replaceChildren();
  for (const field of state.fields) {
    const id = `field-${field.name}`;
    const hintId = `hint-${field.name}`;
    const errorId = `error-${field.name}`;
    const wrapper = element("div", { className: "field", "data-field": field.name });
    wrapper.append(element("label", { for: id, text: field.title }));
    let control;
    if (field.kind === "category") {
      control = element("select", { id });
      for (const option of field.enum) control.append(element("option", { value: option, text: option }));
    } else {
      control = element("input", {
        id,
        type: "number",
        inputmode: field.integer ? "numeric" : "decimal",
        step: field.integer ? "1" : "any",
        min: field.range.min,
        max: field.range.max,
      });
    }
    control.setAttribute("aria-describedby", `${hintId} ${errorId}`);
    wrapper.append(control);
    if (field.nullable) {
      const boxId = `undeclared-${field.name}`;
      const box = element("input", { id: boxId, type: "checkbox", className: "undeclared" });
      box.addEventListener("change", () => {
        control.disabled = box.checked;
      });
      wrapper.append(
        element("div", { className: "undeclared-row" }, [
          box,
          element("label", { for: boxId, text: `${field.title} ${NOT_DECLARED}` }),
        ]),
      );
    }
    wrapper.append(element("p", { id: hintId, className: "hint" }));
    wrapper.append(element("p", { id: errorId, className: "field-error", hidden: true }));
    container.append(wrapper);
  }
  refreshHints();
  fillExample();
}

function refreshHints() {
  for (const field of state.fields) {
    const hint = $(`hint-${field.name}`);
    if (!hint) continue;
    const range = field.kind === "number" ? rangeText(field) : "";
    hint.textContent = [field.description, range].filter(Boolean).join(" ");
  }
}

function fillExample() {
  for (const field of state.fields) {
    const control = $(`field-${field.name}`);
    const value = state.example[field.name];
    const box = $(`undeclared-${field.name}`);
    if (box) {
      box.checked = value === null;
      control.disabled = box.checked;
    }
    control.value = value === null || value === undefined ? "" : String(value);
  }
  clearFieldErrors();
}

function readApplication() {
  const application = {};
  for (const field of state.fields) {
    const control = $(`field-${field.name}`);
    const box = $(`undeclared-${field.name}`);
    if (box && box.checked) {
      application[field.name] = null;
    } else if (field.kind === "category") {
      application[field.name] = control.value;
    } else if (control.value.trim() !== "") {
      // Sent as typed: the service, not the page, says what is allowed.
      const number = Number(control.value);
      application[field.name] = Number.isFinite(number) ? number : control.value;
    } else if (control.validity && control.validity.badInput) {
      application[field.name] = "not a number";
    }
    // An empty required field is left out, and the service names it.
  }
  return application;
}

// --- Field errors ------------------------------------------------------------

function fieldOf(loc) {
  const names = new Set(state.fields.map((field) => field.name));
  return [...(loc || [])].reverse().find((part) => names.has(part));
}

function clearFieldErrors() {
  for (const field of state.fields) {
    const error = $(`error-${field.name}`);
    if (!error) continue;
    error.hidden = true;
    error.textContent = "";
    $(`field-${field.name}`).removeAttribute("aria-invalid");
    error.closest(".field").classList.remove("has-error");
  }
  $("form-error").hidden = true;
}

function showFieldErrors(apiError) {
  const named = [];
  const other = [];
  for (const problem of apiError.detail) {
    const name = fieldOf(problem.loc);
    if (!name) {
      other.push(problem.msg);
      continue;
    }
    const error = $(`error-${name}`);
    error.textContent = error.hidden ? problem.msg : `${error.textContent} ${problem.msg}`;
    error.hidden = false;
    error.closest(".field").classList.add("has-error");
    $(`field-${name}`).setAttribute("aria-invalid", "true");
    if (!named.includes(name)) named.push(name);
  }
  const summary = $("form-error");
  const titles = named.map((name) => state.fields.find((field) => field.name === name).title);
  summary.textContent = titles.length
    ? `Check ${titles.length === 1 ? "this field" : "these fields"}: ${titles.join(", ")}.` +
      (other.length ? ` ${other.join(" ")}` : "")
    : apiError.message;
  summary.hidden = false;
  if (named.length) $(`field-${named[0]}`).focus();
}

// --- One application ---------------------------------------------------------

async function decideOne(event) {
  event.preventDefault();
  clearFieldErrors();
  const button = $("decide");
  button.disabled = true;
  button.textContent = "Deciding…";
  try {
    const decision = await call("classify", { body: readApplication() });
    showDecision(decision);
  } catch (error) {
    $("decision").hidden = true;
    if (error.status === 400) showFieldErrors(error);
    else {
      $("form-error").textContent = messageFor(error);
      $("form-error").hidden = false;
    }
  } finally {
    button.disabled = false;
    button.textContent = "Decide";
  }
}

function titleOf(name) {
  const field = state.fields.find((candidate) => candidate.name === name);
  return field ? field.title : name;
}

function showDecision(decision) {
  const panel = $("decision");
  panel.className = `decision status-${decision.status.toLowerCase()}`;
  $("status-word").textContent = decision.status;
  $("status-text").textContent = STATUS_TEXT[decision.status] || "";
  $("probability").textContent = percentFormat.format(decision.default_probability);
  $("score").textContent = String(decision.score);
  $("model-tag").textContent = decision.model_tag;
  $("policy-version").textContent = decision.policy_version;
  $("decision-id").textContent = decision.decision_id;
  $("copy-status").textContent = "";

  const reasons = $("reasons");
  reasons.replaceChildren();
  const largest = Math.max(...decision.reasons.map((reason) => reason.contribution), 0);
  for (const reason of decision.reasons) {
    const bar = element("span", { className: "bar", "aria-hidden": "true" });
    // Set through the CSSOM: the page's policy allows no inline style attribute.
    bar.style.width = `${largest > 0 ? (100 * reason.contribution) / largest : 0}%`;
    reasons.append(
      element("li", { className: "reason", "data-code": reason.code }, [
        element("span", { className: "reason-label" }, [
          element("span", { className: "reason-text", text: reason.text }),
          element("span", {
            className: "reason-meta",
            text: `${reason.code} · ${titleOf(reason.field)} · +${reason.contribution.toFixed(2)} log-odds`,
          }),
        ]),
        element("span", { className: "bar-track" }, [bar]),
      ]),
    );
  }
  $("no-reasons").hidden = decision.reasons.length > 0;

  const outside = decision.out_of_training_range;
  const list = $("range-list");
  list.replaceChildren();
  for (const name of outside) {
    const trained = state.card && state.card.training_ranges[name];
    const span = trained
      ? ` (training data: ${numberFormat.format(trained[0])} to ${numberFormat.format(trained[1])})`
      : "";
    list.append(
      element("li", {
        text: `${titleOf(name)} is outside what the model saw in training${span}: weigh this decision with care.`,
      }),
    );
  }
  $("range-warning").hidden = outside.length === 0;
  panel.hidden = false;
  panel.focus();
}

async function copyDecisionId() {
  const id = $("decision-id").textContent;
  const status = $("copy-status");
  try {
    await navigator.clipboard.writeText(id);
    status.textContent = "Copied.";
  } catch {
    // No clipboard permission (or not a secure context): select it for Ctrl+C.
    const range = document.createRange();
    range.selectNodeContents($("decision-id"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C.";
  }
}

// --- Many applications -------------------------------------------------------

function parseCsv(text) {
  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks.
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  const source = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < source.length; i += 1) {
    const char = source[i];
    if (quoted) {
      if (char === '"' && source[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ",") {
      row.push(cell);
      cell = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && source[i + 1] === "\n") i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += char;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows.filter((cells) => cells.some((value) => value.trim() !== ""));
}

function csvCell(value) {
  let text = value === null || value === undefined ? "" : String(value);
  // A spreadsheet would run a cell starting with = + - @ as a formula.
  if (/^[=+\-@\t\r]/.test(text) && !Number.isFinite(Number(text))) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function toApplication(header, cells) {
  const application = {};
  for (const field of state.fields) {
    const raw = (cells[header.indexOf(field.name)] ?? "").trim();
    if (field.kind === "category") application[field.name] = raw;
    else if (raw === "") {
      if (field.nullable) application[field.name] = null;
    } else {
      const number = Number(raw);
      application[field.name] = Number.isFinite(number) ? number : raw;
    }
  }
  return application;
}

const RESULT_COLUMNS = [
  { key: "line", title: "Line", numeric: true },
  { key: "status", title: "Status" },
  { key: "default_probability", title: "Default probability", numeric: true, percent: true },
  { key: "score", title: "Score", numeric: true },
  { key: "reason_codes", title: "Reasons" },
  { key: "out_of_training_range", title: "Outside training range" },
  { key: "decision_id", title: "Decision id" },
];

async function decideMany(event) {
  event.preventDefault();
  const status = $("batch-status");
  const errors = $("batch-errors");
  errors.hidden = true;
  errors.replaceChildren();
  const file = $("csv-file").files[0];
  if (!file) {
    showBatchError("Choose a CSV file first.");
    $("csv-file").focus();
    return;
  }
  const rows = parseCsv(await file.text());
  if (rows.length < 2) {
    showBatchError("The file needs a header row and at least one application.");
    return;
  }
  const header = rows[0].map((name) => name.trim());
  const missing = state.fields.map((field) => field.name).filter((name) => !header.includes(name));
  if (missing.length) {
    showBatchError(`The header lacks these columns: ${missing.join(", ")}.`);
    return;
  }
  const lines = rows.slice(1);
  const decided = [];
  $("decide-all").disabled = true;
  try {
    for (let start = 0; start < lines.length; start += state.batchLimit) {
      const chunk = lines.slice(start, start + state.batchLimit);
      status.textContent = `Deciding ${numberFormat.format(start + 1)}–${numberFormat.format(
        start + chunk.length,
      )} of ${numberFormat.format(lines.length)}…`;
      let answer;
      try {
        answer = await call("classify_batch", {
          body: { applications: chunk.map((cells) => toApplication(header, cells)) },
        });
      } catch (error) {
        reportBatchError(error, start);
        break;
      }
      answer.decisions.forEach((decision, index) => {
        decided.push({ cells: chunk[index], decision, line: start + index + 2 });
      });
    }
  } finally {
    $("decide-all").disabled = false;
  }
  status.textContent =
    decided.length === lines.length
      ? `${numberFormat.format(decided.length)} applications decided.`
      : `${numberFormat.format(decided.length)} of ${numberFormat.format(lines.length)} applications decided.`;
  showResults(header, decided);
}

function showBatchError(message) {
  const errors = $("batch-errors");
  errors.replaceChildren(element("p", { text: message }));
  errors.hidden = false;
}

function messageFor(error) {
  // The service's own 401 text is for programmers (which header to send).
  return error.status === 401 ? "A valid API key is needed: enter it above, then try again." : error.message;
}

function reportBatchError(error, start) {
  const errors = $("batch-errors");
  const problems = error.detail.slice(0, 20).map((problem) => {
    const [, index, name] = problem.loc || [];
    const where = Number.isInteger(index) ? `Line ${start + index + 2}` : "The file";
    return element("li", { text: `${where}${name ? `, ${name}` : ""}: ${problem.msg}` });
  });
  errors.replaceChildren(
    element("p", {
      text:
        error.status === 400
          ? `Stopped at the batch that starts on line ${start + 2}: the service refused it. ` +
            "The lines before it were decided; fix the file and upload it again."
          : `Stopped: ${messageFor(error)}`,
    }),
  );
  if (problems.length) errors.append(element("ul", {}, problems));
  errors.hidden = false;
}

function showResults(header, decided) {
  const rows = decided.map(({ cells, decision, line }) => ({
    line,
    cells,
    status: decision.status,
    default_probability: decision.default_probability,
    score: decision.score,
    reason_codes: decision.reasons.map((reason) => reason.code).join(" "),
    reason_texts: decision.reasons.map((reason) => reason.text).join("; "),
    out_of_training_range: decision.out_of_training_range.join(" "),
    model_tag: decision.model_tag,
    policy_version: decision.policy_version,
    decision_id: decision.decision_id,
  }));
  state.results = { header, rows };
  state.sort = { column: null, ascending: true };
  const head = $("results-table").tHead.rows[0];
  head.replaceChildren();
  for (const column of RESULT_COLUMNS) {
    const button = element("button", { type: "button", className: "sort", text: column.title });
    button.addEventListener("click", () => sortBy(column.key));
    head.append(element("th", { scope: "col", "data-column": column.key }, [button]));
  }
  renderRows();
  $("batch-results").hidden = rows.length === 0;
}

function sortBy(key) {
  const column = RESULT_COLUMNS.find((candidate) => candidate.key === key);
  const ascending = state.sort.column === key ? !state.sort.ascending : true;
  state.sort = { column: key, ascending };
  const sign = ascending ? 1 : -1;
  state.results.rows.sort((a, b) => {
    const order = column.numeric ? a[key] - b[key] : String(a[key]).localeCompare(String(b[key]));
    return sign * order || a.line - b.line;
  });
  for (const th of $("results-table").tHead.rows[0].cells) {
    if (th.dataset.column === key) th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
  renderRows();
}

function renderRows() {
  const body = $("results-table").tBodies[0];
  const fragment = document.createDocumentFragment();
  for (const row of state.results.rows) {
    const tr = element("tr", { "data-line": row.line });
    for (const column of RESULT_COLUMNS) {
      const value = row[column.key];
      const text = column.percent ? percentFormat.format(value) : String(value);
      const cell = element(column.key === "line" ? "th" : "td", { text });
      if (column.key === "line") cell.setAttribute("scope", "row");
      if (column.key === "status") cell.className = `status-cell status-${value.toLowerCase()}`;
      if (column.numeric) cell.classList.add("numeric");
      if (column.key === "reason_codes") cell.title = row.reason_texts;
      tr.append(cell);
    }
    fragment.append(tr);
  }
  body.replaceChildren(fragment);
}

function downloadResults() {
  const { header, rows } = state.results;
  const added = [
    "status",
    "default_probability",
    "score",
    "reason_codes",
    "reason_texts",
    "out_of_training_range",
    "model_tag",
    "policy_version",
    "decision_id",
  ];
  const ordered = [...rows].sort((a, b) => a.line - b.line);
  const lines = [[...header, ...added].map(csvCell).join(",")];
  for (const row of ordered) {
    const cells = header.map((_, index) => row.cells[index] ?? "");
    lines.push([...cells, ...added.map((key) => row[key])].map(csvCell).join(","));
  }
  const blob = new Blob([`${lines.join("\r\n")}\r\n`], { type: "text/csv" });
  const link = element("a", {
    href: URL.createObjectURL(blob),
    download: `decisions-${new Date().toISOString().slice(0, 19).replaceAll(":", "")}.csv`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

// --- The model ---------------------------------------------------------------

async function loadCard() {
  const line = $("model-line");
  try {
    state.card = await call("model", { body: {} });
    const policy = state.card.policy;
    line.textContent =
      `Model ${state.card.model_tag}, policy ${policy.version}: approved up to ` +
      `${percentFormat.format(policy.review_above)} default probability, declined above ` +
      `${percentFormat.format(policy.decline_above)}, referred to an officer in between.`;
    showModelView(state.card);
    refreshHints();
  } catch (error) {
    line.textContent =
      error.status === 401
        ? "Enter the API key to see the model and to decide."
        : `The model cannot be read: ${error.message}`;
  }
}

const DIRECTION_WORDS = {
  "-1": "more never raises the default risk",
  "1": "more never lowers the default risk",
};

// The same figures, formatted the same way, as the model card and the fairness report.
function fairnessCells(row) {
  const rate = (value) => (value === null || value === undefined ? "n/a" : percentFormat.format(value));
  const ratio =
    row.adverse_impact_ratio === null || row.adverse_impact_ratio === undefined
      ? "too few (< 30)"
      : row.adverse_impact_ratio.toFixed(2) + (row.below_four_fifths ? " below 4/5" : "");
  return [
    `${row.group}: ${row.value}`,
    numberFormat.format(row.applications),
    numberFormat.format(row.approved),
    rate(row.approval_rate),
    ratio,
    rate(row.default_rate),
    rate(row.mean_predicted),
  ];
}

function showModelView(card) {
  const proofs = card.proofs;
  const items = Object.entries(proofs.directions).map(([field, direction]) =>
    element("li", { text: `${titleOf(field)}: ${DIRECTION_WORDS[String(direction)]}, all else equal (proven).` }),
  );
  items.push(
    element("li", {
      text: proofs.elderly_rule
        ? `Applicants aged 62 or more are never penalised for their age (proven; the model reads ${proofs.age_read_as}).`
        : "The elderly rule is NOT proven for this model.",
    }),
  );
  const unscored = proofs.protected_fields.filter((field) => !proofs.scored_fields.includes(field));
  if (unscored.length) items.push(element("li", { text: `Not scored: ${unscored.join(", ")} (protected).` }));
  if (card.scored_protected_fields.length) {
    items.push(
      element("li", {
        className: "form-error",
        text: `This model scores protected fields: ${card.scored_protected_fields.join(", ")}.`,
      }),
    );
  }
  $("model-proofs").replaceChildren(...items);
  $("fairness-caption").textContent =
    `${numberFormat.format(card.fairness.decisions)} decisions on the held-out data; ` +
    "a ratio below 4/5 of the most favoured group is flagged.";
  $("fairness-table").tBodies[0].replaceChildren(
    ...card.fairness.rows.map((row) =>
      element(
        "tr",
        { className: row.below_four_fifths ? "flagged" : undefined },
        fairnessCells(row).map((text, index) => element(index ? "td" : "th", { text, scope: index ? undefined : "row" })),
      ),
    ),
  );
  $("model-view").hidden = false;
}

async function openCard() {
  const status = $("card-status");
  status.textContent = "";
  try {
    const card = await call(state.card.card_path.replace(/^\//, ""), { body: { format: "html" } });
    const url = URL.createObjectURL(new Blob([card.text], { type: "text/html" }));
    window.open(url, "_blank", "noopener");
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = `The card of ${card.model_tag} opened in a new tab.`;
  } catch (error) {
    status.textContent = `The model card cannot be read: ${error.message}`;
  }
}

async function start() {
  setupKey();
  $("application-form").addEventListener("submit", decideOne);
  $("course-example").addEventListener("click", fillExample);
  $("copy-id").addEventListener("click", copyDecisionId);
  $("batch-form").addEventListener("submit", decideMany);
  $("download").addEventListener("click", downloadResults);
  $("open-card").addEventListener("click", openCard);
  try {
    await loadSchema();
  } catch (error) {
    $("fields").replaceChildren(
      element("p", { className: "form-error", text: `The form cannot be built: ${error.message}` }),
    );
    return;
  }
  buildForm();
  $("csv-hint").textContent =
    `A header row with the columns ${state.fields.map((field) => field.name).join(", ")} ` +
    `(other columns are kept in the download), then one application per line; an empty ` +
    `${state.fields.filter((field) => field.nullable).map((field) => field.name).join(", ")} ` +
    `cell means ${NOT_DECLARED}. Sent ${numberFormat.format(state.batchLimit)} at a time.`;
  await loadCard();
  document.body.dataset.ready = "true";
}

start();
