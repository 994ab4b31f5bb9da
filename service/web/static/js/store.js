// What the page remembers between visits, in this browser only (localStorage): the
// article last open, each article's questions, and the opening words of the articles
// stored from here (a label for untitled ones). Which articles exist is the service's
// to say (GET /v1/documents), not this browser's.

const PREVIEWS = "grounded.previews";
const CURRENT = "grounded.current";
const HISTORY = "grounded.history.";
const MAX_PREVIEWS = 100;
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

/** The opening words of an article opened here before ("" if none was kept). */
export function previewOf(id) {
  const previews = read(PREVIEWS, {});
  return previews && typeof previews[id] === "string" ? previews[id] : "";
}

export function rememberDocument(id, preview) {
  const previews = read(PREVIEWS, {});
  const kept = Object.entries(previews && typeof previews === "object" ? previews : {})
    .filter(([other]) => other !== id)
    .slice(-(MAX_PREVIEWS - 1));
  write(PREVIEWS, Object.fromEntries([...kept, [id, preview]]));
  write(CURRENT, id);
}

export function forgetDocument(id) {
  const previews = read(PREVIEWS, {});
  if (previews && typeof previews === "object") {
    delete previews[id];
    write(PREVIEWS, previews);
  }
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
