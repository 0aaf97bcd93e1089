// What the demo's model cards share: DOM helpers, and a card's status badge
// (`#<card>-status`, its state in `data-state`) and progress bar
// (`#<card>-progress`, `#<card>-bar`, `#<card>-progress-label`).

export const $ = (sel, root = document) => root.querySelector(sel);

export const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** Bytes as megabytes with one decimal. */
export const mb = (bytes) => (bytes / 1e6).toFixed(1);

/** The status badge and progress bar of the card whose ids start with `card`. */
export function cardUi(card) {
  return {
    setStatus(state, text = state) {
      const s = $(`#${card}-status`);
      s.dataset.state = state;
      s.textContent = text;
      s.title = text;
    },
    setBar(fraction, label) {
      const f = Math.min(1, Math.max(0, fraction));
      $(`#${card}-bar`).style.width = `${(f * 100).toFixed(1)}%`;
      $(`#${card}-progress`).setAttribute("aria-valuenow", String(Math.round(f * 100)));
      $(`#${card}-progress-label`).textContent = label;
    },
  };
}
