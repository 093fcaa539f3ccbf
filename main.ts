/** `npm start`: the main job. */
console.log('millrace');
