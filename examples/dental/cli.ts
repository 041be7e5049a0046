/** Placeholder entry point until the dental recipe lands: says so plainly. */
console.log('The ctrLoRA dental example is not built yet: its data and model plugins are open issues.');
console.log('What works today: the tensor core (core/), see docs/architecture.md, and `npm test`.');
