/*
 * Stand-in for Microsoft's Office.js in the browser tests: the Outlook surface the task pane
 * uses, recording every call in window.__officeCalls. window.__officeState (set before the page
 * loads) chooses the selected message and whether Office SSO yields a token.
 */
(function () {
  "use strict";
  var state = window.__officeState || {};
  var calls = (window.__officeCalls = []);
  var handlers = {};

  function record(method, args) {
    calls.push({ method: method, keys: args && typeof args === "object" ? Object.keys(args).sort() : null,
                 args: JSON.parse(JSON.stringify(args === undefined ? null : args)) });
  }

  function messageItem(internetMessageId) {
    return {
      itemType: "message",
      internetMessageId: internetMessageId,
      displayReplyForm: function (formData) { record("displayReplyForm", formData); },
      displayReplyAllForm: function (formData) { record("displayReplyAllForm", formData); }
    };
  }

  window.Office = {
    EventType: { ItemChanged: "olkItemSelectedChanged" },
    context: {
      mailbox: {
        item: state.itemId ? messageItem(state.itemId) : null,
        displayNewMessageForm: function (parameters) { record("displayNewMessageForm", parameters); },
        addHandlerAsync: function (eventType, handler) { handlers[eventType] = handler; record("addHandlerAsync", eventType); }
      }
    },
    auth: {
      getAccessToken: function (options) {
        record("getAccessToken", options);
        return state.officeToken ? Promise.resolve(state.officeToken)
                                 : Promise.reject({ code: 13003, message: "SSO is not supported here" });
      }
    },
    onReady: function (callback) {
      var info = { host: "Outlook", platform: "OfficeOnline" };
      return new Promise(function (resolve) {
        setTimeout(function () { if (callback) callback(info); resolve(info); }, 0);
      });
    }
  };

  // Test hook: the rep selects another message while the pane is pinned.
  window.__selectItem = function (internetMessageId) {
    Office.context.mailbox.item = internetMessageId ? messageItem(internetMessageId) : null;
    var handler = handlers[Office.EventType.ItemChanged];
    if (handler) handler({ type: Office.EventType.ItemChanged });
  };
})();
