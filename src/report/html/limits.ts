/**
 * The HTML report's bounds that commands need before they know whether they will write one: a
 * module of its own, so that a command run without `--html` does not load the renderer.
 */

/**
 * The connections a command keeps for the timeline when it would otherwise keep fewer (analyze,
 * proxy): the canvas draws only the lanes in view, so this bounds the page's size and the command's
 * memory (with at most MAX_EXCHANGES_LISTED exchanges each), not the page's speed.
 */
export const MAX_TIMELINE_CONNECTIONS = 10_000;
