export { ZoeError, toZoeError, type ZoeErrorCode } from "./zoe-error.js";
export { InputError } from "./input-error.js";
export { ModelError } from "./model-error.js";
