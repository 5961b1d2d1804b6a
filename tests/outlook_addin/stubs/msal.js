/*
 * Stand-in for MSAL.js (msal-browser) in the browser tests: just the nested app authentication
 * calls the pane makes, recorded in window.__msalCalls. window.__msalState chooses which
 * tokens the silent and popup requests return (none = that request fails).
 */
(function () {
  "use strict";
  var state = window.__msalState || {};
  var calls = (window.__msalCalls = []);

  function record(method, args) { calls.push({ method: method, args: JSON.parse(JSON.stringify(args)) }); }

  window.msal = {
    createNestablePublicClientApplication: function (configuration) {
      record("createNestablePublicClientApplication", configuration);
      return Promise.resolve({
        acquireTokenSilent: function (request) {
          record("acquireTokenSilent", request);
          return state.silentToken ? Promise.resolve({ accessToken: state.silentToken })
                                   : Promise.reject(new Error("interaction_required"));
        },
        acquireTokenPopup: function (request) {
          record("acquireTokenPopup", request);
          return state.popupToken ? Promise.resolve({ accessToken: state.popupToken })
                                  : Promise.reject(new Error("user_cancelled"));
        }
      });
    }
  };
})();
