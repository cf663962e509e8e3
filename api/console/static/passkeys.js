/*
 * The console's only script: the passkey ceremonies, with @simplewebauthn/browser's bundle (served
 * from node_modules by this server). It registers a passkey and signs decisions; the server checks
 * the session and its CSRF token (X-CSRF-Token), and the workflow verifies every signature.
 */
(() => {
  const webauthn = window.SimpleWebAuthnBrowser;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute('content') ?? '';
  const base = '/console';

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify(body),
    });
    const json = (response.headers.get('content-type') ?? '').includes('application/json');
    const answer = json ? await response.json() : {};
    if (!response.ok || !json) {
      const message = answer.message ?? `The console refused the request (${response.status}); reload the page or sign in again.`;
      throw new Error(message);
    }
    return answer;
  }

  function show(element, text, ok) {
    element.textContent = text;
    element.className = ok ? 'notice' : 'error';
  }

  for (const button of document.querySelectorAll('[data-passkey-register]')) {
    const result = button.parentElement.querySelector('[data-testid="register-result"]');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        const { options } = await post(`${base}/passkeys/options`, {});
        const registration = await webauthn.startRegistration({ optionsJSON: options });
        const registered = await post(`${base}/passkeys`, registration);
        show(
          result,
          `Passkey ${registered.keyId} registered in your registry entry version ${registered.version}. It counts once two admins endorse that entry.`,
          true,
        );
      } catch (error) {
        show(result, `Registration failed: ${error.message}`, false);
      } finally {
        button.disabled = false;
      }
    });
  }

  for (const form of document.querySelectorAll('form[data-passkey-decide]')) {
    const result = form.querySelector('[data-testid="decide-result"]');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const decision = event.submitter?.value === 'reject' ? 'reject' : 'approve';
      const refundId = form.dataset.refundId;
      const reason = form.elements.namedItem('reason').value.trim();
      const url = `${base}/refunds/${encodeURIComponent(refundId)}/decision`;
      for (const button of form.querySelectorAll('button')) button.disabled = true;
      try {
        const { statement, options } = await post(`${url}/challenge`, reason ? { decision, reason } : { decision });
        const signed = await webauthn.startAuthentication({ optionsJSON: options });
        const { authenticatorData, clientDataJSON, signature } = signed.response;
        await post(url, { statement, assertion: { authenticatorData, clientDataJSON, signature } });
        window.location.assign(`${base}/refunds/${encodeURIComponent(refundId)}?done=${decision === 'approve' ? 'approved' : 'rejected'}`);
      } catch (error) {
        show(result, `Not counted: ${error.message}`, false);
        for (const button of form.querySelectorAll('button')) button.disabled = false;
      }
    });
  }
})();
