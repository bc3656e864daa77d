// Role conference: the web chat's video button (a Converse.js 14 plugin).
//
// Loaded by the chat's index.html after converse.min.js and before
// converse-init.js (module scripts run in document order), so that the plugin
// is registered before converse.initialize(); converse-init.js must name it in
// whitelisted_plugins ('teletreball-video').
//
// In the heading of a members-only room it adds a video button and, in the
// heading's menu, "Invite a guest". The video button opens a window at once
// (on the click itself, so that no popup blocker stops it), asks the chat
// server for the room's video credentials
//
//   <iq type='get' to='<own domain>'><video xmlns='urn:teletreball:video:0' room='<room JID>'/></iq>
//
// and sends the window to /video/#<base64url of the JSON {room, server, token,
// room_token, expires, ice, display}>; the video page takes the fragment out of
// the address bar at once. "Invite a guest" asks for a link
//
//   <iq type='set' to='<own domain>'><invite xmlns='urn:teletreball:video:0' room='<room JID>' seconds='7200'/></iq>
//
// and shows the answer's url (copied to the clipboard when the browser allows).
(function () {
    'use strict';

    const NS = 'urn:teletreball:video:0';
    const STANZAS_NS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
    const VIDEO_PAGE = '/video/';
    const INVITE_SECONDS = 7200;
    const ICON_ID = 'icon-teletreball-video';

    const TEXTS = {
        ca: {
            video: 'Videotrucada',
            video_title: "Obre la videotrucada d'aquesta sala en una finestra nova",
            invite: 'Convida',
            invite_title: "Crea un enllaç perquè una persona convidada entri a la videotrucada d'aquesta sala",
            opening: 'Obrint la videotrucada…',
            popup_blocked: "El navegador no ha deixat obrir la finestra de la videotrucada. Permet les finestres emergents d'aquest lloc i torna-ho a provar.",
            err_forbidden: 'No tens permís per fer videotrucades.',
            err_not_found: "Aquesta sala no té videotrucada o no n'ets membre.",
            err_invites_off: 'Les invitacions a convidats no estan activades en aquest servidor.',
            err_unavailable: 'Les videotrucades no estan disponibles ara mateix.',
            err_timeout: 'El servidor de xat no ha respost. Torna-ho a provar.',
            err_other: "No s'ha pogut obrir la videotrucada ({0}).",
            err_invite_other: "No s'ha pogut crear la invitació ({0}).",
            invite_heading: 'Invitació a la videotrucada',
            invite_copied: "Enllaç copiat al porta-retalls. Envia'l a la persona convidada:",
            invite_copy: "Copia aquest enllaç i envia'l a la persona convidada:",
            invite_until: 'Val fins a: {0}.',
        },
        en: {
            video: 'Video call',
            video_title: "Open this room's video call in a new window",
            invite: 'Invite',
            invite_title: "Make a link for a guest to join this room's video call",
            opening: 'Opening the video call…',
            popup_blocked: 'The browser did not let the video call window open. Allow pop-up windows for this site and try again.',
            err_forbidden: 'You are not allowed to make video calls.',
            err_not_found: 'This room has no video call, or you are not a member.',
            err_invites_off: 'Guest invitations are not enabled on this server.',
            err_unavailable: 'Video calls are not available right now.',
            err_timeout: 'The chat server did not answer. Try again.',
            err_other: 'The video call could not be opened ({0}).',
            err_invite_other: 'The invitation could not be made ({0}).',
            invite_heading: 'Video call invitation',
            invite_copied: 'Link copied to the clipboard. Send it to your guest:',
            invite_copy: 'Copy this link and send it to your guest:',
            invite_until: 'Valid until: {0}.',
        },
    };

    function base64url(text) {
        const bytes = new TextEncoder().encode(text);
        let binary = '';
        for (const byte of bytes) binary += String.fromCharCode(byte);
        return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    }

    // The error condition of an IQ error (or 'timeout' when Converse gave up).
    function condition(error) {
        if (!error || !(error instanceof Element)) return 'timeout';
        const holder = error.getElementsByTagName('error')[0];
        if (!holder) return 'undefined-condition';
        for (const child of Array.from(holder.children)) {
            if (child.namespaceURI === STANZAS_NS && child.localName !== 'text') return child.localName;
        }
        return 'undefined-condition';
    }

    // A small video-camera symbol for <converse-icon class="fa fa-teletreball-video">,
    // which draws <use href="#icon-teletreball-video">.
    function addIcon() {
        if (document.getElementById(ICON_ID)) return;
        const SVG = 'http://www.w3.org/2000/svg';
        const svg = document.createElementNS(SVG, 'svg');
        svg.setAttribute('aria-hidden', 'true');
        svg.setAttribute('width', '0');
        svg.setAttribute('height', '0');
        svg.setAttribute('class', 'teletreball-video-icons');
        const symbol = document.createElementNS(SVG, 'symbol');
        symbol.setAttribute('id', ICON_ID);
        symbol.setAttribute('viewBox', '0 0 24 24');
        const path = document.createElementNS(SVG, 'path');
        path.setAttribute('d', 'M3 6h11a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z'
            + 'M17.5 10.5 23 7v10l-5.5-3.5z');
        symbol.append(path);
        svg.append(symbol);
        document.body.append(svg);
    }

    converse.plugins.add('teletreball-video', {
        initialize() {
            const _converse = this._converse;
            const { api } = _converse;
            const { stx } = converse.env;

            function lang() {
                const setting = String(api.settings.get('i18n') || '').toLowerCase();
                return setting.startsWith('en') ? 'en' : 'ca';
            }

            function t(key, ...args) {
                let text = TEXTS[lang()][key] || TEXTS.ca[key] || key;
                args.forEach((arg, i) => { text = text.split('{' + i + '}').join(String(arg)); });
                return text;
            }

            function ownDomain() {
                return _converse.session.get('domain');
            }

            function isVideoRoom(model) {
                return !!model && model.get('type') === 'chatroom'
                    && !!model.features && model.features.get('membersonly') === true;
            }

            // The name the others see: the vCard's full name, else the room nickname.
            function displayName(muc) {
                const profile = _converse.state && _converse.state.profile;
                const fullname = profile && profile.vcard && profile.vcard.get('fullname');
                return String(fullname || muc.get('nick') || _converse.session.get('bare_jid') || '').trim();
            }

            function errorText(error, otherKey) {
                const name = condition(error);
                if (name === 'forbidden' || name === 'not-authorized') return t('err_forbidden');
                if (name === 'item-not-found') return t('err_not_found');
                if (name === 'feature-not-implemented') return t('err_invites_off');
                if (name === 'service-unavailable') return t('err_unavailable');
                if (name === 'timeout') return t('err_timeout');
                return t(otherKey, name);
            }

            // What went wrong, for the person: an IQ error, a timeout (Converse
            // rejects with null or a TimeoutError) or anything else.
            function failure(error, otherKey) {
                if (error instanceof Element) return errorText(error, otherKey);
                if (!error || error.name === 'TimeoutError') return t('err_timeout');
                return t(otherKey, error.message || String(error));
            }

            async function fetchCredentials(muc) {
                const iq = stx`<iq type="get" to="${ownDomain()}" xmlns="jabber:client">
                    <video xmlns="${NS}" room="${muc.get('jid')}"/>
                </iq>`;
                const result = await api.sendIQ(iq);
                const video = result && result.getElementsByTagNameNS(NS, 'video')[0];
                if (!video) throw new Error('no <video/> in the answer');
                const text = (name) => {
                    const el = video.getElementsByTagNameNS(NS, name)[0];
                    return el ? el.textContent : '';
                };
                const ice = Array.from(video.getElementsByTagNameNS(NS, 'ice')).map((el) => {
                    const server = { urls: el.getAttribute('urls') };
                    if (el.hasAttribute('username')) server.username = el.getAttribute('username');
                    if (el.hasAttribute('credential')) server.credential = el.getAttribute('credential');
                    return server;
                }).filter((server) => server.urls);
                return {
                    room: video.getAttribute('room'),
                    server: video.getAttribute('server'),
                    token: text('token'),
                    room_token: text('room-token'),
                    expires: Number(video.getAttribute('expires')),
                    ice,
                    display: displayName(muc),
                };
            }

            function openVideo(ev, muc) {
                ev && ev.preventDefault && ev.preventDefault();
                // On the click itself: a window opened after an await is a popup to block.
                const win = window.open('about:blank', '_blank');
                if (!win) {
                    api.alert('error', t('video'), [t('popup_blocked')]);
                    return;
                }
                try {
                    win.document.title = t('video');
                    win.document.body.textContent = t('opening');
                } catch (e) {
                    // not ours to write to: fine
                }
                fetchCredentials(muc).then((credentials) => {
                    if (win.closed) return;
                    const url = new URL(VIDEO_PAGE, window.location.href);
                    url.hash = base64url(JSON.stringify(credentials));
                    // The video page needs nothing from this one.
                    try {
                        win.opener = null;
                    } catch (e) {
                        // already cut
                    }
                    win.location.replace(url.href);
                }).catch((error) => {
                    win.close();
                    api.alert('error', t('video'), [failure(error, 'err_other')]);
                });
            }

            async function invite(ev, muc) {
                ev && ev.preventDefault && ev.preventDefault();
                const iq = stx`<iq type="set" to="${ownDomain()}" xmlns="jabber:client">
                    <invite xmlns="${NS}" room="${muc.get('jid')}" seconds="${String(INVITE_SECONDS)}"/>
                </iq>`;
                let answer;
                try {
                    answer = await api.sendIQ(iq);
                } catch (error) {
                    api.alert('error', t('invite_heading'), [failure(error, 'err_invite_other')]);
                    return;
                }
                const el = answer && answer.getElementsByTagNameNS(NS, 'invite')[0];
                const url = el && el.getAttribute('url');
                if (!url) {
                    api.alert('error', t('invite_heading'), [t('err_invite_other', 'no url')]);
                    return;
                }
                let copied = false;
                try {
                    if (navigator.clipboard && navigator.clipboard.writeText) {
                        await navigator.clipboard.writeText(url);
                        copied = true;
                    }
                } catch (e) {
                    copied = false;
                }
                const messages = [copied ? t('invite_copied') : t('invite_copy'), url];
                const expires = Number(el.getAttribute('expires'));
                if (expires > 0) {
                    const when = new Date(expires * 1000).toLocaleString(lang() === 'en' ? 'en-GB' : 'ca');
                    messages.push(t('invite_until', when));
                }
                api.alert('info', t('invite_heading'), messages);
            }

            api.listen.on('getHeadingButtons', (el, buttons) => {
                const muc = el && el.model;
                if (!isVideoRoom(muc)) return buttons;
                addIcon();
                buttons.push({
                    standalone: true,
                    name: 'teletreball-video',
                    a_class: 'teletreball-video-button',
                    icon_class: 'fa-teletreball-video',
                    i18n_text: t('video'),
                    i18n_title: t('video_title'),
                    handler: (ev) => openVideo(ev, muc),
                });
                buttons.push({
                    standalone: false,
                    name: 'teletreball-video-invite',
                    a_class: 'teletreball-video-invite',
                    icon_class: 'fa-user-plus',
                    i18n_text: t('invite'),
                    i18n_title: t('invite_title'),
                    handler: (ev) => invite(ev, muc),
                });
                return buttons;
            });

            // The heading is drawn again on changes of the room, not of its
            // features: draw it again when members-only is learnt or changes.
            api.listen.on('chatRoomInitialized', (muc) => {
                muc.listenTo(muc.features, 'change:membersonly', () => {
                    const jid = muc.get('jid');
                    for (const heading of document.querySelectorAll('converse-muc-heading')) {
                        if (heading.getAttribute('jid') === jid && heading.requestUpdate) heading.requestUpdate();
                    }
                });
            });
        },
    });
}());
