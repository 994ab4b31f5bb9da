// What the page remembers between visits, in this browser only (localStorage):
// the documents it stored (the API has no list endpoint) and each one's questions.

const DOCUMENTS = "grounded.documents";
const CURRENT = "grounded.current";
const HISTORY = "grounded.history.";
const MAX_DOCUMENTS = 30;
const MAX_QUESTIONS = 50;

// Storage can be full or disabled (private windows, policies): the page then
// works as before, it just forgets.
function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Quota exceeded or storage disabled: nothing to do.
  }
}

/** Stored documents, most recently used first: [{id, title, preview, chars, created_at}]. */
export function listDocuments() {
  const documents = read(DOCUMENTS, []);
  return Array.isArray(documents) ? documents.filter((d) => d && typeof d.id === "string") : [];
}

export function rememberDocument(entry) {
  const others = listDocuments().filter((d) => d.id !== entry.id);
  write(DOCUMENTS, [entry, ...others].slice(0, MAX_DOCUMENTS));
  write(CURRENT, entry.id);
}

export function forgetDocument(id) {
  write(DOCUMENTS, listDocuments().filter((d) => d.id !== id));
  write(HISTORY + id, null);
  if (currentDocument() === id) write(CURRENT, null);
}

export function currentDocument() {
  return read(CURRENT, null);
}

/** The answers given for one document, newest first. */
export function listAnswers(id) {
  const answers = read(HISTORY + id, []);
  // Entries written by an older page may lack fields: show only complete ones.
  const complete = (a) => a && typeof a.question === "string" && Array.isArray(a.citations);
  return Array.isArray(answers) ? answers.filter(complete) : [];
}

export function rememberAnswer(id, answer) {
  write(HISTORY + id, [answer, ...listAnswers(id)].slice(0, MAX_QUESTIONS));
}
