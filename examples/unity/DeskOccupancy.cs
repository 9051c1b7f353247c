// twinflow → Unity: one building's desks, coloured live by occupancy.
//
// Subscribes to the `desk_occupancy` view of one building with the compact encoding
// (rows as arrays of values, the columns named once by the snapshot; the building, which the
// URL fixes, is left out of the rows), keeps a dictionary of
// desk states by `table_id`, colours the desk objects, and on a lost connection reconnects
// with `?after=<last as_of>` so that only the changes since are sent (or a reset snapshot).
//
// Needs: NativeWebSocket (https://github.com/endel/NativeWebSocket) and Newtonsoft Json
// (Unity package com.unity.nuget.newtonsoft-json). The token goes in the URL: WebGL builds
// cannot set headers on a WebSocket.
using System;
using System.Collections.Generic;
using System.Text;
using NativeWebSocket;
using Newtonsoft.Json.Linq;
using UnityEngine;

public class DeskOccupancy : MonoBehaviour
{
    [Tooltip("The engine, e.g. ws://twinflow.example.com:8080")]
    public string serverUrl = "ws://127.0.0.1:8080";
    [Tooltip("A reader token (JWT) of the building's company")]
    public string token = "";
    public long buildingId = 1;
    [Tooltip("Desk objects are found by name: the prefix followed by the desk's table_id")]
    public string deskNamePrefix = "Desk-";

    public Color free = new Color(0.30f, 0.69f, 0.31f);
    public Color inUse = new Color(1.00f, 0.76f, 0.03f);
    public Color over = new Color(0.90f, 0.22f, 0.21f);

    /// What the engine says of one desk.
    public struct DeskState
    {
        public long TableId;
        public string Label;
        public long Seats;
        public long Assigned;
        public double PosX;
        public double PosY;
    }

    /// Every desk of the building, by table_id, as of `lastAsOf`.
    public readonly Dictionary<long, DeskState> Desks = new Dictionary<long, DeskState>();

    WebSocket socket;
    ulong lastAsOf;
    // Column positions, from the snapshot's "columns".
    int tableId, label, seats, assigned, posX, posY;
    float reconnectDelay = 1f;
    bool stopped;

    async void Start()
    {
        await Connect();
    }

    async System.Threading.Tasks.Task Connect()
    {
        var url = new StringBuilder(serverUrl)
            .Append("/v1/views/desk_occupancy/subscribe?encoding=compact")
            .Append("&building_id=").Append(buildingId)
            .Append("&access_token=").Append(Uri.EscapeDataString(token));
        if (lastAsOf > 0)
        {
            url.Append("&after=").Append(lastAsOf);
        }
        socket = new WebSocket(url.ToString());
        socket.OnOpen += () => reconnectDelay = 1f;
        socket.OnMessage += bytes => OnMessage(Encoding.UTF8.GetString(bytes));
        socket.OnError += error => Debug.LogWarning($"twinflow: {error}");
        socket.OnClose += code => OnClose(code);
        await socket.Connect();
    }

    void OnMessage(string text)
    {
        var message = JObject.Parse(text);
        switch ((string)message["type"])
        {
            case "snapshot":
                // A first snapshot, or a reset: the rows replace what we had. Columns are
                // looked up by name: the ones the URL fixes are not among them.
                var columns = (JArray)message["columns"];
                tableId = columns.IndexOf("table_id");
                label = columns.IndexOf("label");
                seats = columns.IndexOf("seats");
                assigned = columns.IndexOf("assigned");
                posX = columns.IndexOf("pos_x");
                posY = columns.IndexOf("pos_y");
                Desks.Clear();
                foreach (JArray row in (JArray)message["rows"])
                {
                    Upsert(row);
                }
                RecolourAll();
                break;
            case "changes":
                if (message["upserts"] is JArray upserts)
                {
                    foreach (JArray row in upserts)
                    {
                        Recolour(Upsert(row));
                    }
                }
                if (message["deletes"] is JArray deletes)
                {
                    foreach (JArray key in deletes)
                    {
                        var id = (long)key[0];
                        Desks.Remove(id);
                        Paint(id, Color.gray);
                    }
                }
                break;
            // "progress": nothing changed up to its as_of.
        }
        lastAsOf = Math.Max(lastAsOf, (ulong)message["as_of"]);
    }

    DeskState Upsert(JArray row)
    {
        var desk = new DeskState
        {
            TableId = (long)row[tableId],
            Label = (string)row[label],
            Seats = (long)row[seats],
            Assigned = (long)row[assigned],
            PosX = (double)row[posX],
            PosY = (double)row[posY],
        };
        Desks[desk.TableId] = desk;
        return desk;
    }

    void RecolourAll()
    {
        foreach (var desk in Desks.Values)
        {
            Recolour(desk);
        }
    }

    void Recolour(DeskState desk)
    {
        var colour = desk.Assigned == 0 ? free : desk.Assigned <= desk.Seats ? inUse : over;
        Paint(desk.TableId, colour);
    }

    void Paint(long id, Color colour)
    {
        var desk = GameObject.Find(deskNamePrefix + id);
        if (desk != null && desk.TryGetComponent<Renderer>(out var renderer))
        {
            renderer.material.color = colour;
        }
    }

    async void OnClose(WebSocketCloseCode code)
    {
        if (stopped)
        {
            return;
        }
        // 1008: the token expired or its user was revoked; a new token is needed first.
        if (code == WebSocketCloseCode.PolicyViolation)
        {
            Debug.LogWarning("twinflow: the token is no longer accepted; set a new one");
            return;
        }
        await System.Threading.Tasks.Task.Delay(TimeSpan.FromSeconds(reconnectDelay));
        reconnectDelay = Mathf.Min(reconnectDelay * 2, 30f);
        await Connect();
    }

    void Update()
    {
#if !UNITY_WEBGL || UNITY_EDITOR
        // Outside WebGL, NativeWebSocket delivers messages only from here.
        socket?.DispatchMessageQueue();
#endif
    }

    async void OnApplicationQuit()
    {
        stopped = true;
        if (socket != null)
        {
            await socket.Close();
        }
    }
}
