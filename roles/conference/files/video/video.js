// Role conference: the video rooms' page. One Janus session (janus.js, the
// VideoRoom plugin's multistream API): a publisher handle for this person's
// camera and microphone, and one subscriber handle that receives every other
// publisher of the room. Static file, no build step, standard browser APIs only
// (Chromium, Firefox ESR); janus.js runs without webrtc-adapter.
//
// Credentials (Janus signed tokens) come either from the URL fragment, set by
// the chat's video button (base64url of UTF-8 JSON {room, server, token,
// room_token, expires, ice, display}), or from an invitation link
// ?invite=<code> that a guest redeems at INVITE_PATH after typing a name.
//
// window.teletreballVideo is a read-only view for tests and troubleshooting:
// state, error, room, guest, participants(), streams(), peerConnections(),
// startedAt, joinedAt, firstRemoteFrameAt, audioBlocked.
(function () {
    'use strict';

    // ------------------------------------------------------------- settings
    // Where a guest's invitation code is redeemed: same origin, POST of
    // {"invite": code}; 200 with the credentials, 403 when refused.
    const INVITE_PATH = '/teletreball_video/invite';
    // Camera and microphone (ideal values: the browser gets as close as it can).
    const CAMERA = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 15 } };
    const MICROPHONE = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    const SCREEN = { width: { max: 1920 }, height: { max: 1080 }, frameRate: { ideal: 15, max: 15 } };
    // Most this page sends (bits/s); the room's own cap (REMB) may ask for less.
    const CAMERA_MAX_BITRATE = 600000;
    const SCREEN_MAX_BITRATE = 1200000;
    // How long connecting to Janus may take before the page gives up (ms).
    const CONNECT_TIMEOUT = 20000;
    // How long the media connection may take before the page warns (ms).
    const MEDIA_TIMEOUT = 15000;
    // janus.js's console output: false, true (all) or a list such as ['warn', 'error'].
    const JANUS_DEBUG = ['error'];
    const STORAGE_KEY = 'teletreball-video';
    const NAME_MAX = 60;

    // -------------------------------------------------------------- texts
    const TEXTS = {
        ca: {
            title: 'Videotrucada',
            title_room: 'Videotrucada: {0}',
            guest_heading: 'Entra a la videotrucada',
            guest_intro: "T'han convidat a una videotrucada. Escriu el teu nom perquè els altres et reconeguin.",
            guest_name: 'El teu nom',
            join: 'Entra',
            guest_mark: '(convidat)',
            you: '(tu)',
            controls: 'Controls de la trucada',
            mic_off: 'Silencia el micròfon',
            mic_on: 'Activa el micròfon',
            mic_none: 'Sense micròfon',
            camera_off: 'Apaga la càmera',
            camera_on: 'Engega la càmera',
            screen_on: 'Comparteix la pantalla',
            screen_off: 'Deixa de compartir',
            leave: 'Surt',
            left: 'Has sortit de la videotrucada.',
            left_hint: 'Ja pots tancar aquesta finestra.',
            rejoin: 'Torna a entrar',
            retry: 'Torna-ho a provar',
            audio_blocked: 'El navegador no deixa reproduir el so: fes clic aquí per sentir els altres.',
            badge_muted: 'micròfon silenciat',
            badge_screen: 'pantalla',
            camera_is_off: 'Càmera apagada',
            status_connecting: 'Connectant…',
            status_alone: 'Encara no hi ha ningú més a la sala',
            status_one: '1 persona més a la sala',
            status_many: '{0} persones més a la sala',
            status_redeeming: 'Comprovant la invitació…',
            err_no_credentials: "Obre la videotrucada amb el botó de vídeo de la sala, al xat, o amb un enllaç d'invitació.",
            err_bad_credentials: "L'enllaç de la videotrucada no és vàlid. Torna-la a obrir des del xat.",
            err_expired: "L'accés a la videotrucada ha caducat. Torna-la a obrir des del xat.",
            err_refused: "No tens accés a aquesta videotrucada o l'accés ha caducat. Torna-la a obrir des del xat.",
            err_refused_guest: "La invitació ja no és vàlida. Demana'n una de nova a qui t'ha convidat.",
            err_invite_refused: "La invitació no és vàlida o ha caducat. Demana'n una de nova a qui t'ha convidat.",
            err_too_many: "Massa intents. Torna-ho a provar d'aquí a uns minuts.",
            err_video_off: 'Les videotrucades no estan disponibles ara mateix.',
            err_invite_unreachable: "No s'ha pogut comprovar la invitació (el servidor no respon). Torna-ho a provar d'aquí a una estona.",
            err_unreachable: "No es pot connectar amb el servidor de vídeo. Torna-ho a provar d'aquí a una estona.",
            err_lost: "S'ha perdut la connexió amb el servidor de vídeo.",
            err_room_missing: 'Aquesta sala no té videotrucada ara mateix.',
            err_room_closed: "S'ha tancat la sala de vídeo.",
            err_kicked: "T'han tret de la videotrucada.",
            err_late_refused: "L'accés ha caducat abans que arribessin els altres. Surt i torna a obrir la videotrucada des del xat.",
            err_unsupported: 'Aquest navegador no permet videotrucades (WebRTC). Fes servir un Firefox o un Chromium actualitzat.',
            err_insecure: 'La videotrucada només funciona en una adreça segura (https).',
            err_library: "No s'ha pogut carregar el programa de vídeo (janus.js).",
            err_generic: "No s'ha pogut entrar a la videotrucada: {0}",
            warn_no_camera: "No s'ha pogut fer servir la càmera (permís denegat o no disponible): entres només amb el micròfon.",
            warn_no_mic: "No s'ha pogut fer servir el micròfon (permís denegat o no disponible): entres només amb la càmera.",
            warn_no_media: "No s'han pogut fer servir ni la càmera ni el micròfon: entres només per veure i escoltar.",
            warn_camera_failed: "No s'ha pogut engegar la càmera (permís denegat o no disponible).",
            warn_screen_failed: "No s'ha pogut compartir la pantalla.",
            warn_publish_failed: "No s'ha pogut enviar el teu vídeo ni el teu so: ets a la sala només per veure i escoltar.",
            warn_media_rejected: 'El servidor no ha acceptat el teu vídeo o el teu so.',
            warn_ice: 'La connexió de vídeo té problemes. Si no es recupera, surt i torna a entrar.',
        },
        en: {
            title: 'Video call',
            title_room: 'Video call: {0}',
            guest_heading: 'Join the video call',
            guest_intro: 'You were invited to a video call. Type your name so that the others know who you are.',
            guest_name: 'Your name',
            join: 'Join',
            guest_mark: '(guest)',
            you: '(you)',
            controls: 'Call controls',
            mic_off: 'Mute microphone',
            mic_on: 'Unmute microphone',
            mic_none: 'No microphone',
            camera_off: 'Turn camera off',
            camera_on: 'Turn camera on',
            screen_on: 'Share screen',
            screen_off: 'Stop sharing',
            leave: 'Leave',
            left: 'You left the video call.',
            left_hint: 'You can close this window now.',
            rejoin: 'Join again',
            retry: 'Try again',
            audio_blocked: 'The browser does not let the page play sound: click here to hear the others.',
            badge_muted: 'muted',
            badge_screen: 'screen',
            camera_is_off: 'Camera off',
            status_connecting: 'Connecting…',
            status_alone: 'Nobody else is in the room yet',
            status_one: '1 other person in the room',
            status_many: '{0} other people in the room',
            status_redeeming: 'Checking the invitation…',
            err_no_credentials: "Open the video call with the room's video button in the chat, or with an invitation link.",
            err_bad_credentials: 'The video call link is not valid. Open the call again from the chat.',
            err_expired: 'Your access to the video call has expired. Open the call again from the chat.',
            err_refused: 'You have no access to this video call, or your access has expired. Open the call again from the chat.',
            err_refused_guest: 'The invitation is no longer valid. Ask whoever invited you for a new one.',
            err_invite_refused: 'The invitation is not valid or has expired. Ask whoever invited you for a new one.',
            err_too_many: 'Too many attempts. Try again in a few minutes.',
            err_video_off: 'Video calls are not available right now.',
            err_invite_unreachable: 'The invitation could not be checked (the server does not answer). Try again later.',
            err_unreachable: 'The video server cannot be reached. Try again later.',
            err_lost: 'The connection to the video server was lost.',
            err_room_missing: 'This room has no video call right now.',
            err_room_closed: 'The video room was closed.',
            err_kicked: 'You were removed from the video call.',
            err_late_refused: 'Your access expired before the others arrived. Leave and open the call again from the chat.',
            err_unsupported: 'This browser cannot make video calls (WebRTC). Use an up-to-date Firefox or Chromium.',
            err_insecure: 'The video call only works on a secure address (https).',
            err_library: 'The video software (janus.js) could not be loaded.',
            err_generic: 'Could not join the video call: {0}',
            warn_no_camera: 'The camera could not be used (permission denied or not available): you joined with your microphone only.',
            warn_no_mic: 'The microphone could not be used (permission denied or not available): you joined with your camera only.',
            warn_no_media: 'Neither the camera nor the microphone could be used: you joined to watch and listen only.',
            warn_camera_failed: 'The camera could not be turned on (permission denied or not available).',
            warn_screen_failed: 'The screen could not be shared.',
            warn_publish_failed: 'Your video and sound could not be sent: you are in the room to watch and listen only.',
            warn_media_rejected: 'The server did not accept your video or your sound.',
            warn_ice: 'The video connection has problems. If it does not recover, leave and join again.',
        },
    };

    function pickLanguage() {
        const tags = (navigator.languages && navigator.languages.length)
            ? navigator.languages : [navigator.language || ''];
        for (const tag of tags) {
            const base = String(tag).toLowerCase().split('-')[0];
            if (Object.prototype.hasOwnProperty.call(TEXTS, base)) {
                return base;
            }
        }
        return 'ca';
    }

    const LANG = pickLanguage();

    function t(key, ...args) {
        let text = TEXTS[LANG][key] || TEXTS.ca[key] || key;
        args.forEach((arg, i) => { text = text.split('{' + i + '}').join(String(arg)); });
        return text;
    }

    // ------------------------------------------------------------ the page
    const $ = (id) => document.getElementById(id);
    const VIEWS = ['view-message', 'view-guest', 'view-call', 'view-left'];

    function showView(id) {
        for (const view of VIEWS) {
            $(view).hidden = (view !== id);
        }
    }

    function translatePage() {
        document.documentElement.lang = LANG;
        document.title = t('title');
        for (const el of document.querySelectorAll('[data-i18n]')) {
            el.textContent = t(el.dataset.i18n);
        }
        for (const el of document.querySelectorAll('[data-i18n-aria]')) {
            el.setAttribute('aria-label', t(el.dataset.i18nAria));
        }
        $('guest-name').maxLength = NAME_MAX;
    }

    function setStatus(text) {
        $('status').textContent = text || '';
    }

    function showNotice(key) {
        const notice = $('notice');
        notice.textContent = t(key);
        notice.hidden = false;
    }

    function initials(name) {
        const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
        const letters = words.slice(0, 2).map((word) => Array.from(word)[0] || '');
        return (letters.join('') || '?').toUpperCase();
    }

    // ------------------------------------------------------------ the state
    const app = {
        state: 'idle',
        error: null,
        room: null,
        guest: false,
        creds: null,
        call: null,
        startedAt: null,
        joinedAt: null,
        firstRemoteFrameAt: null,
        audioBlocked: false,
    };

    function setState(state, errorText) {
        app.state = state;
        if (errorText !== undefined) {
            app.error = errorText;
        }
        document.body.dataset.state = state;
    }

    class CallError extends Error {
        constructor(kind, key, detail) {
            super(detail ? t(key, detail) : t(key));
            this.kind = kind;    // 'refused' or 'error'
            this.key = key;
            this.detail = detail || null;
        }
    }

    // ------------------------------------------------------ the credentials
    function base64urlDecode(text) {
        const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
        const binary = atob(base64 + '='.repeat((4 - base64.length % 4) % 4));
        const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    }

    function cleanName(text) {
        return Array.from(String(text || '').replace(/\s+/g, ' ').trim()).slice(0, NAME_MAX).join('');
    }

    function cleanIce(list) {
        if (!Array.isArray(list)) {
            return [];
        }
        const servers = [];
        for (const item of list) {
            if (!item || (typeof item.urls !== 'string' && !Array.isArray(item.urls))) {
                continue;
            }
            const server = { urls: item.urls };
            if (typeof item.username === 'string') server.username = item.username;
            if (typeof item.credential === 'string') server.credential = item.credential;
            servers.push(server);
        }
        return servers;
    }

    // The credentials from the fragment, the invitation's answer or the tab's
    // storage, checked; null when something essential is missing.
    function checkCredentials(data) {
        if (!data || typeof data !== 'object') return null;
        const room = data.room;
        const server = data.server;
        if (typeof room !== 'string' || !room
                || typeof server !== 'string' || !/^wss?:\/\/[^/]/i.test(server)
                || typeof data.token !== 'string' || !data.token
                || typeof data.room_token !== 'string' || !data.room_token) {
            return null;
        }
        const expires = Number(data.expires);
        return {
            room,
            server,
            token: data.token,
            room_token: data.room_token,
            expires: Number.isFinite(expires) ? expires : null,
            ice: cleanIce(data.ice),
            display: cleanName(data.display),
            guest: data.guest === true,
        };
    }

    function expired(creds) {
        return creds.expires !== null && creds.expires * 1000 <= Date.now();
    }

    function storeCredentials(creds) {
        try {
            sessionStorage.setItem(STORAGE_KEY, JSON.stringify(creds));
        } catch (e) {
            // Storage off: a reload then asks to open the call again.
        }
    }

    function forgetCredentials() {
        try {
            sessionStorage.removeItem(STORAGE_KEY);
        } catch (e) {
            // nothing stored
        }
    }

    function storedCredentials() {
        try {
            const creds = checkCredentials(JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null'));
            return creds && !expired(creds) && !creds.guest ? creds : null;
        } catch (e) {
            return null;
        }
    }

    async function redeemInvitation(code) {
        let response;
        try {
            response = await fetch(INVITE_PATH, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
                body: JSON.stringify({ invite: code }),
                credentials: 'same-origin',
                cache: 'no-store',
            });
        } catch (e) {
            throw new CallError('error', 'err_invite_unreachable');
        }
        if (response.status === 403 || response.status === 404 || response.status === 410) {
            throw new CallError('refused', 'err_invite_refused');
        }
        if (response.status === 429) {
            throw new CallError('refused', 'err_too_many');
        }
        if (response.status === 503) {
            throw new CallError('error', 'err_video_off');
        }
        if (!response.ok) {
            throw new CallError('error', 'err_invite_unreachable');
        }
        let creds;
        try {
            creds = checkCredentials(await response.json());
        } catch (e) {
            creds = null;
        }
        if (!creds) {
            throw new CallError('error', 'err_invite_unreachable');
        }
        creds.guest = true;
        return creds;
    }

    // ------------------------------------------------------------- janus.js
    // What janus.js would ask webrtc-adapter (window.adapter) about the browser.
    function browserDetails() {
        const ua = navigator.userAgent;
        let match = ua.match(/Firefox\/(\d+)/);
        if (match) return { browser: 'firefox', version: Number(match[1]) };
        match = ua.match(/(?:Chrome|Chromium|CriOS)\/(\d+)/);
        if (match) return { browser: 'chrome', version: Number(match[1]) };
        match = ua.match(/AppleWebKit\/(\d+)/);
        if (match) return { browser: 'safari', version: Number(match[1]) };
        return { browser: 'unknown', version: 0 };
    }

    let janusReady = null;

    function initJanus() {
        if (!janusReady) {
            janusReady = new Promise((resolve, reject) => {
                if (typeof window.Janus !== 'function') {
                    reject(new CallError('error', 'err_library'));
                    return;
                }
                const adapter = window.adapter && window.adapter.browserDetails
                    ? window.adapter : { browserDetails: browserDetails() };
                window.Janus.init({
                    debug: JANUS_DEBUG,
                    dependencies: window.Janus.useDefaultDependencies({ adapter }),
                    callback: () => resolve(window.Janus),
                });
            });
        }
        return janusReady;
    }

    function randomId() {
        const bytes = crypto.getRandomValues(new Uint8Array(9));
        return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    }

    // --------------------------------------------------------------- media
    async function getUserMedia(constraints) {
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        return stream.getTracks();
    }

    // Camera and microphone together (one permission prompt); what is refused
    // or missing is tried apart, so that the person still joins with the rest.
    async function acquireMedia() {
        const media = { mic: null, camera: null, warning: null };
        if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
            media.warning = 'warn_no_media';
            return media;
        }
        try {
            const tracks = await getUserMedia({ audio: MICROPHONE, video: CAMERA });
            media.mic = tracks.find((track) => track.kind === 'audio') || null;
            media.camera = tracks.find((track) => track.kind === 'video') || null;
        } catch (both) {
            try {
                media.mic = (await getUserMedia({ audio: MICROPHONE }))[0] || null;
            } catch (e) {
                media.mic = null;
            }
            try {
                media.camera = (await getUserMedia({ video: CAMERA }))[0] || null;
            } catch (e) {
                media.camera = null;
            }
        }
        if (!media.mic && !media.camera) media.warning = 'warn_no_media';
        else if (!media.camera) media.warning = 'warn_no_camera';
        else if (!media.mic) media.warning = 'warn_no_mic';
        return media;
    }

    // A video track that never sends a frame: it keeps a video line in the
    // offer, so that the camera can be turned on or the screen shared later
    // without renegotiating, when the camera was not available at the start.
    function silentVideoTrack() {
        try {
            const canvas = document.createElement('canvas');
            canvas.width = 320;
            canvas.height = 180;
            canvas.getContext('2d').fillRect(0, 0, canvas.width, canvas.height);
            return canvas.captureStream(0).getVideoTracks()[0] || null;
        } catch (e) {
            return null;
        }
    }

    async function setMaxBitrate(sender, bitrate) {
        if (!sender || !sender.getParameters) return;
        try {
            const params = sender.getParameters();
            if (!params.encodings || !params.encodings.length) return;
            params.encodings[0].maxBitrate = bitrate;
            await sender.setParameters(params);
        } catch (e) {
            // the room's cap still applies
        }
    }

    function stopTrack(track) {
        if (track) {
            try {
                track.stop();
            } catch (e) {
                // already stopped
            }
        }
    }

    // ------------------------------------------------------------- a call
    function newCall(creds) {
        return {
            creds,
            janus: null,
            pub: null,            // publisher handle
            sub: null,            // subscriber handle
            subCreating: false,
            subReady: false,
            ownStreams: [],       // this page's published streams (mid, type)
            silenced: new Set(),  // subscriber mids of its own feed, asked not to relay
            pending: [],          // streams to subscribe to: {feed, mid}
            subscribed: new Set(),  // "<feed>|<mid>" asked for
            layout: new Map(),    // subscriber mid -> {feedKey, feedMid, type}
            remoteTracks: new Map(),  // subscriber mid -> MediaStreamTrack
            mutedMids: new Set(),
            feeds: new Map(),     // feed key -> {id, key, display, metadata}
            myId: null,
            myKey: null,
            privateId: null,
            pubUp: false,
            media: { mic: null, camera: null, warning: null },
            screen: null,
            placeholder: null,
            audioSender: null,
            videoSender: null,
            ended: false,
            tiles: new Map(),     // feed key (or 'self') -> tile
            audios: new Map(),    // subscriber mid -> {el, track}
            timer: null,
        };
    }

    function metadataOf(call) {
        let video = 'off';
        if (call.screen) video = 'screen';
        else if (call.media.camera) video = 'camera';
        return {
            guest: !!call.creds.guest,
            video,
            audio: !!(call.media.mic && call.media.mic.enabled),
        };
    }

    function sendMetadata(call) {
        if (call.pub && call.myId !== null && !call.ended) {
            call.pub.send({ message: { request: 'configure', metadata: metadataOf(call) } });
        }
    }

    function current(call) {
        return app.call === call && !call.ended;
    }

    // startedAt: when the person asked to join (the guest's click), else now.
    async function startCall(creds, startedAt) {
        if (app.call && !app.call.ended) return;
        const call = newCall(creds);
        app.call = call;
        app.creds = creds;
        app.room = creds.room;
        app.guest = creds.guest;
        app.startedAt = typeof startedAt === 'number' ? startedAt : performance.now();
        app.joinedAt = null;
        app.firstRemoteFrameAt = null;
        app.audioBlocked = false;
        setState('joining', null);
        document.title = t('title_room', creds.room);
        $('title').textContent = t('title_room', creds.room);
        $('notice').hidden = true;
        $('audio-unblock').hidden = true;
        $('grid').textContent = '';
        $('audio-sinks').textContent = '';
        setStatus(t('status_connecting'));
        showView('view-call');
        updateControls(call);

        if (expired(creds)) {
            failCall(call, new CallError('refused', creds.guest ? 'err_refused_guest' : 'err_expired'));
            return;
        }
        if (!window.isSecureContext) {
            failCall(call, new CallError('error', 'err_insecure'));
            return;
        }
        if (!window.RTCPeerConnection) {
            failCall(call, new CallError('error', 'err_unsupported'));
            return;
        }
        renderSelf(call);
        const mediaReady = acquireMedia().then((media) => {
            if (!current(call)) {
                stopTrack(media.mic);
                stopTrack(media.camera);
                return media;
            }
            call.media = media;
            renderSelf(call);
            updateControls(call);
            return media;
        });
        try {
            const Janus = await initJanus();
            if (!Janus.isWebrtcSupported()) {
                throw new CallError('error', 'err_unsupported');
            }
            await connect(call, Janus);
            await attachPublisher(call);
            await mediaReady;
            if (!current(call)) return;
            if (call.media.warning) showNotice(call.media.warning);
            call.pub.send({
                message: {
                    request: 'join',
                    ptype: 'publisher',
                    room: creds.room,
                    display: creds.display,
                    token: creds.room_token,
                    metadata: metadataOf(call),
                },
            });
        } catch (error) {
            failCall(call, error);
        }
    }

    function connect(call, Janus) {
        return new Promise((resolve, reject) => {
            let settled = false;
            const timer = setTimeout(() => {
                if (!settled) {
                    settled = true;
                    reject(new CallError('error', 'err_unreachable'));
                }
            }, CONNECT_TIMEOUT);
            call.janus = new Janus({
                server: call.creds.server,
                token: call.creds.token,
                iceServers: call.creds.ice,
                success: () => {
                    clearTimeout(timer);
                    if (!settled) {
                        settled = true;
                        resolve();
                    }
                },
                error: (cause) => {
                    clearTimeout(timer);
                    const text = String(cause || '');
                    if (!settled) {
                        settled = true;
                        if (/unauthori[sz]ed|token/i.test(text)) {
                            reject(new CallError('refused', call.creds.guest ? 'err_refused_guest' : 'err_refused'));
                        } else {
                            reject(new CallError('error', 'err_unreachable'));
                        }
                    } else if (current(call)) {
                        // The session was up: the server went away.
                        failCall(call, new CallError('error', 'err_lost'));
                    }
                },
                destroyed: () => {},
            });
        });
    }

    const opaqueId = 'teletreball-' + randomId();

    function attachPublisher(call) {
        return new Promise((resolve, reject) => {
            call.janus.attach({
                plugin: 'janus.plugin.videoroom',
                opaqueId,
                success: (handle) => {
                    call.pub = handle;
                    resolve(handle);
                },
                error: (cause) => {
                    const text = String(cause || '');
                    if (/unauthori[sz]ed|token/i.test(text)) {
                        reject(new CallError('refused', call.creds.guest ? 'err_refused_guest' : 'err_refused'));
                    } else {
                        reject(new CallError('error', 'err_generic', text));
                    }
                },
                consentDialog: () => {},
                iceState: (state) => {
                    if (current(call) && state === 'failed') showNotice('warn_ice');
                },
                webrtcState: (up) => {
                    if (!current(call)) return;
                    call.pubUp = !!up;
                    if (up) {
                        setMaxBitrate(call.videoSender, call.screen ? SCREEN_MAX_BITRATE : CAMERA_MAX_BITRATE);
                        ensureSubscriber(call);
                    }
                },
                onmessage: (msg, jsep) => onPublisherMessage(call, msg, jsep),
                onlocaltrack: () => {},
                onremotetrack: () => {},
                oncleanup: () => {},
            });
        });
    }

    function roomError(call, msg) {
        const code = Number(msg.error_code);
        if (code === 433) {
            return new CallError('refused', call.creds.guest ? 'err_refused_guest' : 'err_refused');
        }
        if (code === 426) {
            return new CallError('error', 'err_room_missing');
        }
        return new CallError('error', 'err_generic', msg.error || String(code));
    }

    function onPublisherMessage(call, msg, jsep) {
        if (!current(call)) return;
        const event = msg.videoroom;
        if (event === 'joined') {
            call.myId = msg.id;
            call.myKey = String(msg.id);
            call.privateId = msg.private_id;
            app.joinedAt = performance.now();
            setState('joined');
            if (app.creds && !app.creds.guest) storeCredentials(app.creds);
            renderSelf(call);
            addPublishers(call, msg.publishers);
            publish(call);
            updateControls(call);
            updateStatus(call);
        } else if (event === 'destroyed') {
            failCall(call, new CallError('error', 'err_room_closed'));
            return;
        } else if (event === 'event') {
            if (msg.error) {
                if (call.myId === null) {
                    failCall(call, roomError(call, msg));
                    return;
                }
                showNotice('warn_publish_failed');
            } else if (msg.publishers) {
                addPublishers(call, msg.publishers);
            } else if (msg.leaving !== undefined) {
                if (msg.leaving === 'ok') {
                    if (msg.reason === 'kicked') failCall(call, new CallError('refused', 'err_kicked'));
                    return;
                }
                removeFeed(call, msg.leaving);
            } else if (msg.unpublished !== undefined) {
                if (msg.unpublished !== 'ok') removeFeed(call, msg.unpublished);
            } else if (msg.id !== undefined && (msg.metadata !== undefined || msg.display !== undefined)) {
                const feed = call.feeds.get(String(msg.id));
                if (feed) {
                    if (msg.metadata && typeof msg.metadata === 'object') feed.metadata = msg.metadata;
                    if (typeof msg.display === 'string') feed.display = msg.display;
                    renderRemote(call);
                }
            }
            if (Array.isArray(msg.streams) && msg.id === undefined) {
                call.ownStreams = msg.streams;
            }
            if (msg.configured === 'ok' && jsep) {
                if (call.media.mic && !msg.audio_codec) showNotice('warn_media_rejected');
                if (call.media.camera && !msg.video_codec) showNotice('warn_media_rejected');
            }
        }
        if (jsep) {
            call.pub.handleRemoteJsep({
                jsep,
                error: () => showNotice('warn_publish_failed'),
            });
        }
    }

    function publish(call) {
        const media = call.media;
        const tracks = [];
        if (media.mic) {
            tracks.push({ type: 'audio', capture: media.mic, recv: false });
        }
        let video = media.camera;
        if (!video) {
            video = call.placeholder = silentVideoTrack();
        }
        if (video) {
            tracks.push({ type: 'video', capture: video, recv: false });
        }
        if (!tracks.length) {
            return;    // watch and listen only
        }
        call.pub.createOffer({
            tracks,
            success: (jsep) => {
                if (!current(call)) return;
                const pc = call.pub.webrtcStuff.pc;
                for (const transceiver of pc.getTransceivers()) {
                    const track = transceiver.sender.track;
                    if (track && track === media.mic) call.audioSender = transceiver.sender;
                    if (track && track === video) call.videoSender = transceiver.sender;
                }
                if (call.placeholder && call.videoSender) {
                    // Keep the line, send nothing.
                    call.videoSender.replaceTrack(null).catch(() => {});
                }
                call.pub.send({ message: { request: 'publish', display: call.creds.display }, jsep });
                updateControls(call);
                setTimeout(() => {
                    if (current(call) && !call.pubUp) showNotice('warn_ice');
                }, MEDIA_TIMEOUT);
            },
            error: () => {
                if (current(call)) showNotice('warn_publish_failed');
            },
        });
    }

    // ---------------------------------------------------------- subscriber
    function addPublishers(call, list) {
        if (!Array.isArray(list)) return;
        for (const publisher of list) {
            if (!publisher || publisher.dummy) continue;
            const key = String(publisher.id);
            if (key === call.myKey) continue;
            const feed = call.feeds.get(key) || { id: publisher.id, key, display: '', metadata: {}, streams: [] };
            if (typeof publisher.display === 'string') feed.display = publisher.display;
            if (Array.isArray(publisher.streams)) feed.streams = publisher.streams;
            if (publisher.metadata && typeof publisher.metadata === 'object') feed.metadata = publisher.metadata;
            call.feeds.set(key, feed);
            for (const stream of feed.streams) {
                if (!stream || stream.disabled || !stream.mid) continue;
                if (stream.type !== 'audio' && stream.type !== 'video') continue;
                const wanted = key + '|' + stream.mid;
                if (call.subscribed.has(wanted)) continue;
                call.subscribed.add(wanted);
                call.pending.push({ feed: publisher.id, mid: stream.mid });
            }
        }
        renderRemote(call);
        updateStatus(call);
        ensureSubscriber(call);
    }

    function removeFeed(call, id) {
        const key = String(id);
        call.feeds.delete(key);
        for (const wanted of Array.from(call.subscribed)) {
            if (wanted.startsWith(key + '|')) call.subscribed.delete(wanted);
        }
        call.pending = call.pending.filter((stream) => String(stream.feed) !== key);
        renderRemote(call);
        updateStatus(call);
    }

    // Subscribes to what is pending: a new subscriber handle the first time
    // (joining needs the room token, which is short-lived: when nobody else
    // publishes yet, the handle subscribes to this page's own feed with
    // send=false, so that it exists for those who come later), updates after.
    function ensureSubscriber(call) {
        if (!current(call) || call.myId === null) return;
        if (call.sub) {
            if (call.subReady && call.pending.length) {
                const streams = call.pending.splice(0);
                call.sub.send({ message: { request: 'subscribe', streams } });
            }
            return;
        }
        if (call.subCreating) return;
        if (!call.pending.length && !call.pubUp) return;
        createSubscriber(call);
    }

    function createSubscriber(call) {
        call.subCreating = true;
        call.subReady = false;
        call.janus.attach({
            plugin: 'janus.plugin.videoroom',
            opaqueId,
            success: (handle) => {
                if (!current(call)) {
                    handle.detach();
                    return;
                }
                call.sub = handle;
                const streams = call.pending.splice(0);
                if (!streams.length) {
                    // One of this page's own streams (audio if there is), not
                    // relayed: see silenceOwnStreams.
                    const own = call.ownStreams.filter((st) => st && st.mid && !st.disabled);
                    const pick = own.find((st) => st.type === 'audio') || own[0];
                    streams.push(pick ? { feed: call.myId, mid: pick.mid } : { feed: call.myId });
                }
                handle.send({
                    message: {
                        request: 'join',
                        ptype: 'subscriber',
                        room: call.creds.room,
                        streams,
                        private_id: call.privateId,
                        use_msid: false,
                        token: call.creds.room_token,
                    },
                });
            },
            error: () => {
                call.subCreating = false;
                if (current(call)) showNotice('warn_ice');
            },
            iceState: (state) => {
                if (current(call) && state === 'failed') showNotice('warn_ice');
            },
            webrtcState: () => {},
            onmessage: (msg, jsep) => onSubscriberMessage(call, msg, jsep),
            onlocaltrack: () => {},
            onremotetrack: (track, mid, on, meta) => onRemoteTrack(call, track, mid, on, meta),
            oncleanup: () => {
                call.remoteTracks.clear();
                call.mutedMids.clear();
                if (current(call)) renderRemote(call);
            },
        });
    }

    function onSubscriberMessage(call, msg, jsep) {
        if (!current(call)) return;
        const event = msg.videoroom;
        if (msg.error) {
            const code = Number(msg.error_code);
            if (!call.subReady) {
                // The subscriber's join failed.
                if (code === 433) {
                    failCall(call, new CallError('refused', 'err_late_refused'));
                    return;
                }
                const handle = call.sub;
                call.sub = null;
                call.subCreating = false;
                if (handle) handle.detach();
                resubscribeAll(call, true);
            } else {
                // An update failed (a publisher left meanwhile, most likely).
                resubscribeAll(call, false);
            }
            return;
        }
        if (event === 'attached') {
            call.subReady = true;
            call.subCreating = false;
        }
        if (Array.isArray(msg.streams)) {
            call.layout.clear();
            for (const stream of msg.streams) {
                if (!stream || stream.active === false || stream.feed_id === undefined || stream.feed_id === null) {
                    continue;
                }
                call.layout.set(stream.mid, {
                    feedKey: String(stream.feed_id),
                    feedMid: stream.feed_mid,
                    type: stream.type,
                });
            }
            renderRemote(call);
            silenceOwnStreams(call);
        }
        if (jsep) {
            const handle = call.sub;
            handle.createAnswer({
                jsep,
                tracks: [],
                success: (answer) => {
                    if (current(call)) {
                        handle.send({ message: { request: 'start', room: call.creds.room }, jsep: answer });
                    }
                },
                error: () => {
                    if (current(call)) showNotice('warn_ice');
                },
            });
        }
        if (event === 'attached' || event === 'updated') ensureSubscriber(call);
    }

    // The subscription to this page's own feed only keeps the subscriber
    // handle alive: Janus is asked not to relay it (send is applied by a
    // subscriber's configure, not by its join).
    function silenceOwnStreams(call) {
        const mids = [];
        for (const [mid, entry] of call.layout) {
            if (entry.feedKey === call.myKey && !call.silenced.has(mid)) mids.push(mid);
        }
        if (!mids.length || !call.sub) return;
        for (const mid of mids) call.silenced.add(mid);
        call.sub.send({ message: { request: 'configure', streams: mids.map((mid) => ({ mid, send: false })) } });
    }

    // After a refused subscription (a publisher left meanwhile, most likely):
    // check who still publishes, then ask again for every stream of theirs
    // that the subscriber does not receive.
    function resubscribeAll(call, fresh) {
        call.subscribed.clear();
        call.pending = [];
        if (fresh) {
            call.layout.clear();
            call.silenced.clear();
        } else {
            for (const entry of call.layout.values()) {
                call.subscribed.add(entry.feedKey + '|' + entry.feedMid);
            }
        }
        clearTimeout(call.timer);
        call.timer = setTimeout(() => {
            if (!current(call) || !call.pub) return;
            call.pub.send({
                message: { request: 'listparticipants', room: call.creds.room },
                success: (answer) => {
                    if (!current(call)) return;
                    if (answer && Array.isArray(answer.participants)) {
                        const present = new Set(answer.participants
                            .filter((p) => p && p.publisher !== false)
                            .map((p) => String(p.id)));
                        for (const key of Array.from(call.feeds.keys())) {
                            if (!present.has(key)) removeFeed(call, key);
                        }
                    }
                    addPublishers(call, Array.from(call.feeds.values()));
                },
            });
        }, 1000);
    }

    function onRemoteTrack(call, track, mid, on, meta) {
        if (!current(call)) return;
        const reason = meta && meta.reason;
        if (on) {
            call.remoteTracks.set(mid, track);
            call.mutedMids.delete(mid);
        } else if (reason === 'mute') {
            call.mutedMids.add(mid);
        } else {
            if (call.remoteTracks.get(mid) === track) call.remoteTracks.delete(mid);
            call.mutedMids.delete(mid);
        }
        renderRemote(call);
    }

    // ------------------------------------------------------------ rendering
    function makeTile(key, self) {
        const tile = document.createElement('div');
        tile.className = 'tile' + (self ? ' self' : '');
        tile.dataset.feed = key;
        const video = document.createElement('video');
        video.autoplay = true;
        video.playsInline = true;
        video.muted = true;    // sound plays through the audio elements
        video.setAttribute('muted', '');
        video.setAttribute('playsinline', '');
        const placeholder = document.createElement('div');
        placeholder.className = 'placeholder';
        const avatar = document.createElement('span');
        avatar.className = 'avatar';
        const placeholderText = document.createElement('span');
        placeholderText.className = 'placeholder-text';
        placeholder.append(avatar, placeholderText);
        const label = document.createElement('div');
        label.className = 'label';
        const name = document.createElement('span');
        name.className = 'name';
        const badges = document.createElement('span');
        badges.className = 'badges';
        label.append(name, badges);
        tile.append(video, placeholder, label);
        $('grid').append(tile);
        return { el: tile, video, placeholder, avatar, placeholderText, name, badges, track: null };
    }

    function labelOf(display, guest) {
        const name = display || '?';
        return guest ? name + ' ' + t('guest_mark') : name;
    }

    function setBadges(tile, metadata) {
        const list = [];
        if (metadata && metadata.audio === false) list.push(t('badge_muted'));
        if (metadata && metadata.video === 'screen') list.push(t('badge_screen'));
        tile.badges.textContent = list.join(' · ');
        tile.badges.hidden = list.length === 0;
    }

    function showVideo(tile, track, visible, mirror) {
        if (track !== tile.track) {
            tile.track = track;
            tile.video.srcObject = track ? new MediaStream([track]) : null;
            if (track) tile.video.play().catch(() => {});
        }
        tile.el.classList.toggle('video-off', !visible);
        tile.el.classList.toggle('mirror', !!mirror);
    }

    function renderSelf(call) {
        let tile = call.tiles.get('self');
        if (!tile) {
            tile = makeTile('self', true);
            call.tiles.set('self', tile);
        }
        const display = call.creds.display;
        tile.name.textContent = labelOf(display, call.creds.guest) + ' ' + t('you');
        tile.avatar.textContent = initials(display);
        tile.placeholderText.textContent = t('camera_is_off');
        const track = call.screen || call.media.camera || null;
        showVideo(tile, track, !!track, !call.screen && !!call.media.camera);
        setBadges(tile, metadataOf(call));
        layoutGrid(call);
    }

    function markFirstFrame() {
        if (app.firstRemoteFrameAt === null) {
            app.firstRemoteFrameAt = performance.now();
        }
    }

    function watchFirstFrame(video) {
        video.addEventListener('loadeddata', markFirstFrame, { once: true });
        if (typeof video.requestVideoFrameCallback === 'function') {
            video.requestVideoFrameCallback(markFirstFrame);
        }
    }

    function renderRemote(call) {
        // Which subscriber mids carry which feed's media.
        const videoOf = new Map();
        const audioMids = new Map();
        for (const [mid, entry] of call.layout) {
            if (!call.feeds.has(entry.feedKey)) continue;
            if (entry.type === 'video' && !videoOf.has(entry.feedKey)) videoOf.set(entry.feedKey, mid);
            if (entry.type === 'audio') audioMids.set(mid, entry.feedKey);
        }
        for (const [key, feed] of call.feeds) {
            let tile = call.tiles.get(key);
            if (!tile) {
                tile = makeTile(key, false);
                call.tiles.set(key, tile);
            }
            const metadata = feed.metadata || {};
            tile.name.textContent = labelOf(feed.display, metadata.guest === true);
            tile.avatar.textContent = initials(feed.display);
            tile.placeholderText.textContent = metadata.video === 'off' ? t('camera_is_off') : '';
            const mid = videoOf.get(key);
            const track = mid !== undefined ? call.remoteTracks.get(mid) || null : null;
            const flowing = !!track && track.readyState === 'live' && !call.mutedMids.has(mid);
            const isNew = track && track !== tile.track;
            showVideo(tile, track, flowing && metadata.video !== 'off', false);
            if (isNew) watchFirstFrame(tile.video);
            setBadges(tile, metadata);
        }
        for (const [key, tile] of Array.from(call.tiles)) {
            if (key !== 'self' && !call.feeds.has(key)) {
                tile.video.srcObject = null;
                tile.el.remove();
                call.tiles.delete(key);
            }
        }
        // One audio element per received audio stream.
        for (const [mid, entry] of Array.from(call.audios)) {
            const track = call.remoteTracks.get(mid);
            if (!audioMids.has(mid) || !track || track !== entry.track) {
                entry.el.srcObject = null;
                entry.el.remove();
                call.audios.delete(mid);
            }
        }
        for (const mid of audioMids.keys()) {
            const track = call.remoteTracks.get(mid);
            if (!track || call.audios.has(mid)) continue;
            const el = document.createElement('audio');
            el.autoplay = true;
            el.srcObject = new MediaStream([track]);
            $('audio-sinks').append(el);
            call.audios.set(mid, { el, track });
            playAudio(el);
        }
        layoutGrid(call);
    }

    function playAudio(el) {
        const played = el.play();
        if (played && played.catch) {
            played.catch((error) => {
                if (error && error.name === 'NotAllowedError') {
                    app.audioBlocked = true;
                    $('audio-unblock').hidden = false;
                }
            });
        }
    }

    function unblockAudio() {
        const call = app.call;
        if (!call) return;
        app.audioBlocked = false;
        $('audio-unblock').hidden = true;
        for (const entry of call.audios.values()) playAudio(entry.el);
        for (const tile of call.tiles.values()) tile.video.play().catch(() => {});
    }

    function layoutGrid(call) {
        $('grid').dataset.count = String(Math.min(call.tiles.size, 9));
    }

    function updateStatus(call) {
        if (app.state !== 'joined') return;
        const others = call.feeds.size;
        if (others === 0) setStatus(t('status_alone'));
        else if (others === 1) setStatus(t('status_one'));
        else setStatus(t('status_many', others));
    }

    // ------------------------------------------------------------- controls
    function setButton(button, text, off, enabled) {
        button.textContent = text;
        button.classList.toggle('off', !!off);
        button.disabled = !enabled;
    }

    function updateControls(call) {
        const joined = app.state === 'joined' && current(call);
        const mic = call.media.mic;
        if (!mic) {
            setButton($('btn-mic'), t('mic_none'), true, false);
        } else {
            setButton($('btn-mic'), mic.enabled ? t('mic_off') : t('mic_on'), !mic.enabled, joined);
        }
        const canCamera = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
        setButton($('btn-camera'), call.media.camera ? t('camera_off') : t('camera_on'), !call.media.camera,
            joined && canCamera && !!call.videoSender);
        const canShare = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
        setButton($('btn-screen'), call.screen ? t('screen_off') : t('screen_on'), false,
            joined && canShare && !!call.videoSender);
        $('btn-screen').classList.toggle('active', !!call.screen);
        $('btn-leave').disabled = !(app.state === 'joined' || app.state === 'joining');
    }

    function toggleMic() {
        const call = app.call;
        if (!call || !current(call) || !call.media.mic) return;
        call.media.mic.enabled = !call.media.mic.enabled;
        renderSelf(call);
        updateControls(call);
        sendMetadata(call);
    }

    async function toggleCamera() {
        const call = app.call;
        if (!call || !current(call) || !call.videoSender) return;
        const button = $('btn-camera');
        button.disabled = true;
        try {
            if (call.media.camera) {
                const camera = call.media.camera;
                call.media.camera = null;
                if (!call.screen) await call.videoSender.replaceTrack(null);
                stopTrack(camera);
            } else {
                let camera;
                try {
                    camera = (await getUserMedia({ video: CAMERA }))[0];
                } catch (e) {
                    showNotice('warn_camera_failed');
                    return;
                }
                if (!current(call)) {
                    stopTrack(camera);
                    return;
                }
                call.media.camera = camera;
                if (!call.screen) {
                    await call.videoSender.replaceTrack(camera);
                    setMaxBitrate(call.videoSender, CAMERA_MAX_BITRATE);
                }
            }
        } finally {
            if (current(call)) {
                renderSelf(call);
                updateControls(call);
                sendMetadata(call);
            }
        }
    }

    async function toggleScreen() {
        const call = app.call;
        if (!call || !current(call) || !call.videoSender) return;
        if (call.screen) {
            await stopScreen(call);
            return;
        }
        let track;
        try {
            const stream = await navigator.mediaDevices.getDisplayMedia({ video: SCREEN, audio: false });
            track = stream.getVideoTracks()[0];
        } catch (error) {
            // Cancelling the browser's picker is not worth a notice.
            const cancelled = error && (error.name === 'NotAllowedError' || error.name === 'AbortError');
            if (!cancelled && current(call)) showNotice('warn_screen_failed');
            return;
        }
        if (!track || !current(call)) {
            stopTrack(track);
            return;
        }
        if ('contentHint' in track) track.contentHint = 'detail';
        // The browser's own "stop sharing" button ends the track.
        track.addEventListener('ended', () => {
            if (call.screen === track) stopScreen(call);
        });
        try {
            await call.videoSender.replaceTrack(track);
        } catch (e) {
            stopTrack(track);
            showNotice('warn_screen_failed');
            return;
        }
        call.screen = track;
        setMaxBitrate(call.videoSender, SCREEN_MAX_BITRATE);
        renderSelf(call);
        updateControls(call);
        sendMetadata(call);
    }

    async function stopScreen(call) {
        const track = call.screen;
        call.screen = null;
        stopTrack(track);
        if (!current(call)) return;
        try {
            await call.videoSender.replaceTrack(call.media.camera || null);
        } catch (e) {
            // the next camera toggle sets it again
        }
        setMaxBitrate(call.videoSender, CAMERA_MAX_BITRATE);
        renderSelf(call);
        updateControls(call);
        sendMetadata(call);
    }

    // Ends the call's media and its Janus session (no view change).
    function endCall(call) {
        if (call.ended) return;
        call.ended = true;
        clearTimeout(call.timer);
        stopTrack(call.screen);
        stopTrack(call.media.mic);
        stopTrack(call.media.camera);
        stopTrack(call.placeholder);
        call.screen = null;
        for (const entry of call.audios.values()) {
            entry.el.srcObject = null;
        }
        for (const tile of call.tiles.values()) {
            tile.video.srcObject = null;
        }
        if (call.janus && call.janus.destroy) {
            try {
                call.janus.destroy({ cleanupHandles: true, notifyDestroyed: false });
            } catch (e) {
                // the session is gone already
            }
        }
    }

    function failCall(call, error) {
        if (app.call !== call || call.ended) return;
        endCall(call);
        const kind = error instanceof CallError ? error.kind : 'error';
        const text = error instanceof CallError ? error.message : t('err_generic', String(error && error.message || error));
        setState(kind === 'refused' ? 'refused' : 'error', text);
        if (kind === 'refused') forgetCredentials();
        showMessage(text, kind === 'error' && app.creds && !expired(app.creds));
    }

    function leave() {
        const call = app.call;
        if (!call || call.ended) return;
        endCall(call);
        forgetCredentials();
        setState('left', null);
        setStatus('');
        const rejoin = $('btn-rejoin');
        rejoin.hidden = !(app.creds && !expired(app.creds));
        showView('view-left');
    }

    function showMessage(text, retry) {
        $('message-text').textContent = text;
        $('btn-retry').hidden = !retry;
        setStatus('');
        showView('view-message');
    }

    // ---------------------------------------------------------- diagnostics
    function participants() {
        const call = app.call;
        if (!call) return [];
        const list = [];
        if (call.myId !== null) {
            const mine = metadataOf(call);
            list.push({ id: call.myKey, display: call.creds.display, self: true, guest: mine.guest,
                video: mine.video, audio: mine.audio });
        }
        for (const feed of call.feeds.values()) {
            const metadata = feed.metadata || {};
            list.push({ id: feed.key, display: feed.display, self: false, guest: metadata.guest === true,
                video: metadata.video || null, audio: metadata.audio !== false });
        }
        return list;
    }

    function streams() {
        const call = app.call;
        if (!call) return [];
        const list = [];
        for (const [mid, entry] of call.layout) {
            const feed = call.feeds.get(entry.feedKey);
            const track = call.remoteTracks.get(mid);
            list.push({ mid, feed: entry.feedKey, display: feed ? feed.display : null, type: entry.type,
                self: entry.feedKey === call.myKey, trackId: track ? track.id : null,
                muted: call.mutedMids.has(mid) });
        }
        return list;
    }

    function peerConnections() {
        const call = app.call;
        if (!call) return [];
        const list = [];
        for (const handle of [call.pub, call.sub]) {
            const pc = handle && handle.webrtcStuff && handle.webrtcStuff.pc;
            if (pc) list.push(pc);
        }
        return list;
    }

    const diagnostics = {};
    const getters = {
        state: () => app.state,
        error: () => app.error,
        room: () => app.room,
        guest: () => app.guest,
        language: () => LANG,
        startedAt: () => app.startedAt,
        joinedAt: () => app.joinedAt,
        firstRemoteFrameAt: () => app.firstRemoteFrameAt,
        audioBlocked: () => app.audioBlocked,
    };
    for (const [name, get] of Object.entries(getters)) {
        Object.defineProperty(diagnostics, name, { get, enumerable: true });
    }
    for (const [name, value] of Object.entries({ participants, streams, peerConnections })) {
        Object.defineProperty(diagnostics, name, { value, enumerable: true });
    }
    Object.freeze(diagnostics);
    Object.defineProperty(window, 'teletreballVideo', { value: diagnostics, enumerable: true });

    // ------------------------------------------------------------- the start
    function fromFragment() {
        const hash = location.hash.replace(/^#/, '');
        if (!hash) return undefined;
        // Out of the address bar (and the history) at once.
        history.replaceState(null, '', location.pathname + location.search);
        try {
            return checkCredentials(JSON.parse(base64urlDecode(hash)));
        } catch (e) {
            return null;
        }
    }

    function refuseAtStart(key, kind) {
        setState(kind || 'refused', t(key));
        showMessage(t(key), false);
    }

    function startGuest(code) {
        showView('view-guest');
        const input = $('guest-name');
        try {
            input.value = sessionStorage.getItem(STORAGE_KEY + '-name') || '';
        } catch (e) {
            // no storage
        }
        input.focus();
        $('guest-form').addEventListener('submit', async (event) => {
            event.preventDefault();
            const name = cleanName(input.value);
            if (!name) {
                input.focus();
                return;
            }
            try {
                sessionStorage.setItem(STORAGE_KEY + '-name', name);
            } catch (e) {
                // no storage
            }
            $('guest-join').disabled = true;
            const clickedAt = performance.now();
            app.startedAt = clickedAt;
            setState('joining', null);
            setStatus(t('status_redeeming'));
            try {
                const creds = await redeemInvitation(code);
                creds.display = name;
                startCall(creds, clickedAt);
            } catch (error) {
                $('guest-join').disabled = false;
                const kind = error instanceof CallError ? error.kind : 'error';
                const text = error instanceof CallError ? error.message : t('err_invite_unreachable');
                setState(kind, text);
                showMessage(text, false);
            }
        });
    }

    function main() {
        translatePage();
        setState('idle', null);
        $('btn-mic').addEventListener('click', toggleMic);
        $('btn-camera').addEventListener('click', toggleCamera);
        $('btn-screen').addEventListener('click', toggleScreen);
        $('btn-leave').addEventListener('click', leave);
        $('btn-rejoin').addEventListener('click', () => {
            if (app.creds && !expired(app.creds)) startCall(app.creds);
        });
        $('btn-retry').addEventListener('click', () => {
            if (app.creds && !expired(app.creds)) startCall(app.creds);
        });
        $('audio-unblock').addEventListener('click', unblockAudio);

        const fragment = fromFragment();
        if (fragment === null) {
            refuseAtStart('err_bad_credentials');
            return;
        }
        if (fragment) {
            startCall(fragment);
            return;
        }
        const code = new URLSearchParams(location.search).get('invite');
        if (code) {
            startGuest(code);
            return;
        }
        const stored = storedCredentials();
        if (stored) {
            startCall(stored);
            return;
        }
        setState('idle', t('err_no_credentials'));
        showMessage(t('err_no_credentials'), false);
    }

    if (document.readyState === 'loading') {
        document.addEventListener('DOMContentLoaded', main);
    } else {
        main();
    }
}());
