// Hash routing between the demo's pages. Every page's DOM is in index.html
// (`<section id="page-NAME">`, tab `#tab-NAME`); the router shows one section,
// marks its tab, and tells the app which page became visible.

/**
 * Shows the page named by `location.hash` (the first of `names` for an empty
 * or unknown hash) now and on every hash change; `onShow(name)` hears each.
 */
export function startRouter(names, onShow) {
  const title = document.title;
  const show = () => {
    const asked = location.hash.slice(1);
    const name = names.includes(asked) ? asked : names[0];
    for (const n of names) {
      document.getElementById(`page-${n}`).hidden = n !== name;
      document.getElementById(`tab-${n}`).setAttribute("aria-selected", String(n === name));
    }
    document.title = `${document.getElementById(`tab-${name}`).textContent} · ${title}`;
    onShow(name);
  };
  window.addEventListener("hashchange", show);
  show();
}
